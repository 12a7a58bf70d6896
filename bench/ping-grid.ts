/**
 * `npm run bench:ping-grid`: `rtinfer ping`'s RTT tail against the gRPC C core's (bench/grpcio_ping.py) over a
 * grid of schedules: probe intervals 2, 5 and 20 ms × request payloads 0 and 1024 bytes (PingRequest.payload),
 * every point on the same server. P3 (bench/ping-p3.ts, bench/perf.ts) is the single point 5 ms / 0 B; the
 * tail of a client is worst where it has least idle time per probe (2 ms) and most work per probe (payload),
 * so those points are measured too.
 *
 * Method, per point, the same as P3's (docs/decisions/0009-p3-pooled-p99-with-equal-warm-up.md):
 * - Both clients run as child processes (bench/ping-runs.ts), with `rtinfer ping`'s defaults (transport h2,
 *   per-hop PINGs on) and the same schedule: BLOCKS blocks per client, each a fresh process that sends
 *   WARMUP discarded probes first, then PROBES / BLOCKS measured ones, one every interval.
 * - The two clients' blocks alternate (A B A B …), the first client changing from block to block, so a
 *   disturbance of a few seconds lands on both.
 * - Each p99 is taken over all PROBES of a client at that point pooled; the ratio ours ÷ C core has a seeded
 *   bootstrap 95 % CI (bench/pooled-p99.ts). A point passes when the pooled ratio is ≤ 1.
 *
 * Defaults: PROBES 1000 per client per point (a p99 is then the 10th-worst value; fewer would make it a
 * handful of scheduler stalls), BLOCKS 4, WARMUP 100: about 4 minutes in all, most of it the 20 ms points.
 * Override with BENCH_GRID_PROBES, BENCH_GRID_BLOCKS, BENCH_GRID_WARMUP, BENCH_GRID_INTERVALS ("2,5,20")
 * and BENCH_GRID_PAYLOADS ("0,1024"); BENCH_RTINFER=/path/to/other/checkout/bin/rtinfer.js measures another
 * build of the client against the same C core (before/after a change). Prints a table; the JSON (every
 * block's p50/p99, the load average) goes to out/bench-ping-grid-<date>.json.
 */
import * as os from 'node:os';
import { writeBenchJson } from './out';
import { grpcioPing, rtinferPing, type PingRun, type PingSchedule } from './ping-runs';
import { pooledP99Ratio } from './pooled-p99';
import { nearestRankSorted, sortedCopy } from '../src/measure/stats';
import { startServerProcess } from '../test/helpers/server-process';

export interface GridOptions {
  intervalsMs: number[];
  payloadsBytes: number[];
  /** Measured probes per client per point, pooled over the blocks. */
  probes: number;
  blocks: number;
  /** Discarded probes at the start of every block, both clients. */
  warmup: number;
  /** Progress lines (one per block). */
  log?: (line: string) => void;
}

export const DEFAULT_GRID: GridOptions = { intervalsMs: [2, 5, 20], payloadsBytes: [0, 1024], probes: 1000, blocks: 4, warmup: 100 };

type Client = 'ours' | 'grpcio';

/** One client's pooled figures at one point. */
export interface ClientFigures {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  samples: number;
  /** p99 of each block, in the order run. */
  block_p99_ms: number[];
  /** rtinfer only: p99 of the timer error (actual − scheduled send) over the pooled probes. */
  timer_error_p99_ms?: number;
  /**
   * rtinfer only: the probes that left with none of ours in flight, the only kind grpcio_ping.py sends (it
   * waits for each reply), and their p99: a like-for-like figure beside the headline one (ping-runs.ts).
   */
  sent_idle?: { samples: number; p99_ms: number };
}

export interface GridPoint {
  interval_ms: number;
  payload_bytes: number;
  ours: ClientFigures;
  grpcio: ClientFigures;
  /** Pooled p99 ours ÷ pooled p99 C core, and its bootstrap 95 % interval. */
  ratio: number;
  ratio_ci95: [number, number];
  pass: boolean;
  /** 1-minute load average after each block. */
  load_avg: number[];
}

function figures(blocks: PingRun[]): ClientFigures {
  const rtts = sortedCopy(blocks.flatMap((b) => b.rttsMs));
  const te = blocks.flatMap((b) => b.timerErrorsMs ?? []);
  const idle = blocks.flatMap((b) => (b.sentWhileBusy ? b.rttsMs.filter((_, i) => !b.sentWhileBusy![i]) : []));
  return {
    p50_ms: nearestRankSorted(rtts, 50),
    p99_ms: nearestRankSorted(rtts, 99),
    max_ms: rtts[rtts.length - 1],
    samples: rtts.length,
    block_p99_ms: blocks.map((b) => b.p99),
    ...(te.length > 0 ? { timer_error_p99_ms: nearestRankSorted(sortedCopy(te), 99) } : {}),
    ...(idle.length > 0 ? { sent_idle: { samples: idle.length, p99_ms: nearestRankSorted(sortedCopy(idle), 99) } } : {}),
  };
}

/** One point: BLOCKS alternating blocks per client, pooled. */
function measurePoint(port: number, intervalMs: number, payloadBytes: number, o: GridOptions): GridPoint {
  const perBlock = Math.max(1, Math.round(o.probes / o.blocks));
  const s: PingSchedule = { count: perBlock, intervalMs, warmup: o.warmup, payloadBytes };
  const runs: Record<Client, PingRun[]> = { ours: [], grpcio: [] };
  const loads: number[] = [];
  const order: Client[] = ['ours', 'grpcio'];
  for (let b = 0; b < o.blocks; b++) {
    for (let k = 0; k < order.length; k++) {
      const client = order[(k + b) % order.length];
      // The same 5 s per-call deadline as grpcio_ping.py's timeout (ping's default would be 1 s).
      const r = client === 'ours' ? rtinferPing(port, 'h2', s, ['--deadline-ms', '5000']) : grpcioPing(port, s);
      runs[client].push(r);
      loads.push(os.loadavg()[0]);
      o.log?.(`  ${intervalMs} ms ${payloadBytes} B block ${b + 1}/${o.blocks} ${client.padEnd(6)} p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} max ${r.max.toFixed(2)} ms (load ${loads[loads.length - 1].toFixed(2)})`);
    }
  }
  const pr = pooledP99Ratio(runs.ours.map((r) => r.rttsMs), runs.grpcio.map((r) => r.rttsMs));
  return { interval_ms: intervalMs, payload_bytes: payloadBytes, ours: figures(runs.ours), grpcio: figures(runs.grpcio), ratio: pr.ratio, ratio_ci95: pr.ci95, pass: pr.ratio <= 1, load_avg: loads };
}

/**
 * Measures every point of the grid against the server on `port` (which must be running and warm). Blocking:
 * the clients run as child processes one after the other (spawnSync), so nothing of this process's
 * runs alongside them.
 */
export function pingGrid(port: number, opts: Partial<GridOptions> = {}): GridPoint[] {
  const o: GridOptions = { ...DEFAULT_GRID, ...opts };
  const points: GridPoint[] = [];
  for (const payload of o.payloadsBytes) for (const interval of o.intervalsMs) points.push(measurePoint(port, interval, payload, o));
  return points;
}

/**
 * The grid as a table, one line per point: each client's pooled p50/p99, the ratio with its CI and verdict,
 * then (informative) our timer-error p99 and the p99 of our probes that left with nothing in flight, with
 * how many of the pooled probes those are.
 */
export function gridTable(points: GridPoint[]): string {
  const head = 'interval  payload │ rtinfer p50    p99 │ C core p50    p99 │ p99 ratio (95 % CI)        │ probes │ ours: timer err p99, p99 sent idle (n)';
  const lines = points.map((p) =>
    [
      `${String(p.interval_ms).padStart(5)} ms ${String(p.payload_bytes).padStart(6)} B │`,
      `${p.ours.p50_ms.toFixed(3).padStart(11)} ${p.ours.p99_ms.toFixed(3).padStart(6)} │`,
      `${p.grpcio.p50_ms.toFixed(3).padStart(10)} ${p.grpcio.p99_ms.toFixed(3).padStart(6)} │`,
      `${p.ratio.toFixed(2).padStart(6)} (${p.ratio_ci95[0].toFixed(2)}–${p.ratio_ci95[1].toFixed(2)}) ${p.pass ? 'PASS  ' : 'MISSED'} │`,
      `${String(p.ours.samples).padStart(6)} │`,
      `${(p.ours.timer_error_p99_ms ?? NaN).toFixed(3)}, ${p.ours.sent_idle ? `${p.ours.sent_idle.p99_ms.toFixed(3)} (${p.ours.sent_idle.samples})` : '-'}`,
    ].join(' '),
  );
  return [head, ...lines].join('\n');
}

const numbers = (v: string | undefined, dflt: number[]): number[] => (v ? v.split(',').map(Number).filter((x) => Number.isFinite(x) && x >= 0) : dflt);

async function main(): Promise<void> {
  const o: GridOptions = {
    intervalsMs: numbers(process.env.BENCH_GRID_INTERVALS, DEFAULT_GRID.intervalsMs).filter((x) => x > 0),
    payloadsBytes: numbers(process.env.BENCH_GRID_PAYLOADS, DEFAULT_GRID.payloadsBytes),
    probes: Math.max(1, Number(process.env.BENCH_GRID_PROBES ?? DEFAULT_GRID.probes)),
    blocks: Math.max(1, Number(process.env.BENCH_GRID_BLOCKS ?? DEFAULT_GRID.blocks)),
    warmup: Math.max(0, Number(process.env.BENCH_GRID_WARMUP ?? DEFAULT_GRID.warmup)),
    log: (l) => void process.stderr.write(`${l}\n`),
  };
  const load0 = os.loadavg()[0];
  process.stderr.write(`ping-grid: intervals ${o.intervalsMs.join(', ')} ms × payloads ${o.payloadsBytes.join(', ')} B; ${o.probes} probes per client per point in ${o.blocks} blocks, ${o.warmup} warm-up probes per block; load ${load0.toFixed(2)}\n`);
  // Ping does no model work, so the model does not matter: GoogLeNet synthetic, as ping-p3.
  const srv = await startServerProcess(['--backend', 'onnxruntime']);
  let points: GridPoint[];
  try {
    // Warm the server's Ping path and ours once, unrecorded.
    rtinferPing(srv.port, 'h2', { count: 200, intervalMs: 2, warmup: 0 });
    points = pingGrid(srv.port, o);
  } finally {
    await srv.stop();
  }
  process.stdout.write(`\nrtinfer ping (h2, defaults) vs gRPC C core (bench/grpcio_ping.py), RTT ms, p99 over all probes of a client pooled\n${gridTable(points)}\n`);
  process.stdout.write(`load average: start ${load0.toFixed(2)}, end ${os.loadavg()[0].toFixed(2)}\n`);
  writeBenchJson('ping-grid', points);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`ping-grid: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
