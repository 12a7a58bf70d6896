/**
 * The two ping clients the benchmarks compare, each run as a child process of its own so it never shares
 * an event loop with the harness: `rtinfer ping` (either transport) and bench/grpcio_ping.py (gRPC C core).
 * Used by bench/perf.ts (P3), bench/ping-p3.ts and bench/ping-cpu.ts, so all three run the clients alike.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
/** BENCH_RTINFER: another build's bin/rtinfer.js as the client under test (before/after comparisons). */
const RTINFER = process.env.BENCH_RTINFER ?? path.join(ROOT, 'bin', 'rtinfer.js');
const GRPCIO_PING = path.join(ROOT, 'bench', 'grpcio_ping.py');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export type Json = Record<string, unknown>;

/** Runs `rtinfer <args> --json FILE` and returns the report; exit 4 (a failed verdict) still has one. */
export function rtinfer(args: string[]): Json {
  const file = path.join(os.tmpdir(), `bench-rtinfer-${process.pid}-${Date.now()}.json`);
  const r = spawnSync(process.execPath, [RTINFER, ...args, '--json', file], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0 && r.status !== 4) throw new Error(`rtinfer ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  fs.rmSync(file, { force: true });
  return rep;
}

export interface PingSchedule {
  count: number;
  /** 0 = closed loop (grpcio_ping.py only). */
  intervalMs: number;
  /** Probes sent and discarded first. */
  warmup: number;
  /** Request payload per probe (PingRequest.payload), bytes; default 0. */
  payloadBytes?: number;
}

/** One client run: its percentiles and every RTT, ms. */
export interface PingRun {
  p50: number;
  p99: number;
  max: number;
  rttsMs: number[];
  /** grpcio_ping.py only: process CPU per measured call. */
  cpuUsPerCall?: number;
  /** rtinfer only: each measured probe's timer error (actual − scheduled send), ms. */
  timerErrorsMs?: number[];
  /**
   * rtinfer only, aligned with rttsMs: the probe left while an earlier one was still out. grpcio_ping.py's
   * blocking call never sends one (it waits for the reply and leaves late instead), so a stall of the path
   * costs it one slow probe and us one per interval the stall lasts.
   */
  sentWhileBusy?: boolean[];
}

/** `extraArgs` go after the schedule's (e.g. `--no-path` for an A/B). */
export function rtinferPing(port: number, transport: 'h2' | 'grpc-js', s: PingSchedule, extraArgs: string[] = []): PingRun {
  const rep = rtinfer(['ping', '-t', `127.0.0.1:${port}`, '-c', String(s.count), '-i', String(s.intervalMs), '--warmup', String(s.warmup), '--payload-bytes', String(s.payloadBytes ?? 0), '-q', '--transport', transport, ...extraArgs]);
  const sum = rep.summary as { lost: number; rtt: { max_ms: number; percentiles_ms: Record<string, number> } };
  if (sum.lost > 0) throw new Error(`rtinfer ping --transport ${transport} lost ${sum.lost} probes`);
  const probes = rep.probes as Array<{ rtt_ns?: number; timer_error_ns?: number; warm_reference?: boolean; sent_ns: number; recv_ns?: number }>;
  const measured = probes.filter((x) => !x.warm_reference);
  // Probes are in send order; with no loss (checked above) every earlier one has its reply time.
  let lastReplyNs = -Infinity;
  const busy = measured.map((x) => {
    const b = lastReplyNs > x.sent_ns;
    lastReplyNs = Math.max(lastReplyNs, x.recv_ns ?? Infinity);
    return b;
  });
  const answered = measured.map((x, i) => ({ x, busy: busy[i] })).filter((e) => e.x.rtt_ns !== undefined);
  return {
    p50: sum.rtt.percentiles_ms.p50,
    p99: sum.rtt.percentiles_ms.p99,
    max: sum.rtt.max_ms,
    rttsMs: answered.map((e) => e.x.rtt_ns! / 1e6),
    timerErrorsMs: measured.filter((x) => x.timer_error_ns !== undefined).map((x) => x.timer_error_ns! / 1e6),
    sentWhileBusy: answered.map((e) => e.busy),
  };
}

export function grpcioPing(port: number, s: PingSchedule): PingRun {
  const r = spawnSync(PYTHON, [GRPCIO_PING, `127.0.0.1:${port}`, '--count', String(s.count), '--interval-ms', String(s.intervalMs), '--warmup', String(s.warmup), '--payload-bytes', String(s.payloadBytes ?? 0), '--raw'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`grpcio_ping.py failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { percentiles_ms: Record<string, number>; max_ms: number; errors: number; cpu_us_per_call: number; rtt_ns: number[] };
  if (j.errors > 0) throw new Error(`grpcio_ping.py: ${j.errors} errors`);
  return { p50: j.percentiles_ms['50'], p99: j.percentiles_ms['99'], max: j.max_ms, rttsMs: j.rtt_ns.map((x) => x / 1e6), cpuUsPerCall: j.cpu_us_per_call };
}
