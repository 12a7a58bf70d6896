/**
 * `node dist/bench/ping-p3.js` (after `npm run build`): issue 5's P3 alone, for both of ping's transports —
 * the part of `npm run bench:perf` that needs no model measurements, in ~1.5 min instead of ~5.
 *
 * One server child (`node dist/src/server/main.js --backend onnxruntime`, GoogLeNet synthetic: Ping does no
 * model work, so the model does not matter), then REPS rounds (BENCH_P3_REPS, default 3), each running, one
 * after the other so they never overlap: `rtinfer ping --transport h2`, `rtinfer ping --transport grpc-js`
 * and `bench/grpcio_ping.py` (gRPC C core), all with PING_COUNT probes every PING_INTERVAL_MS, empty
 * payload — the schedule bench/perf.ts uses for P3. The order rotates each round so no client always
 * runs first (a warmer or cooler machine). P3 = p99 of all our probes pooled over the rounds ÷ the same for
 * grpcio, with a bootstrap 95 % CI (bench/pooled-p99.ts).
 * The 1-minute load average is printed with every figure; the JSON goes to out/bench-ping-p3-<date>.json.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeBenchJson } from './out';
import { pooledP99Ratio } from './pooled-p99';
import { startServerChild } from './server-child';

const ROOT = path.join(__dirname, '..', '..');
const RTINFER = path.join(ROOT, 'bin', 'rtinfer.js');
const GRPCIO_PING = path.join(ROOT, 'bench', 'grpcio_ping.py');
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const REPS = Math.max(1, Number(process.env.BENCH_P3_REPS ?? 3));
const PING_COUNT = 1000;
const PING_INTERVAL_MS = 5;

type Client = 'h2' | 'grpc-js' | 'grpcio';
interface Row {
  round: number;
  client: Client;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  load_avg: number;
}

const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Run {
  p50: number;
  p99: number;
  max: number;
  rttsMs: number[];
}

function rtinferPing(port: number, transport: 'h2' | 'grpc-js'): Run {
  const file = path.join(os.tmpdir(), `ping-p3-${process.pid}-${Date.now()}.json`);
  const r = spawnSync(process.execPath, [RTINFER, 'ping', '-t', `127.0.0.1:${port}`, '-c', String(PING_COUNT), '-i', String(PING_INTERVAL_MS), '--warmup', '200', '-q', '--transport', transport, '--json', file], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`rtinfer ping --transport ${transport} failed (${r.status}): ${r.stderr}${r.stdout}`);
  const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as { summary: { lost: number; rtt: { max_ms: number; percentiles_ms: Record<string, number> } }; probes: Array<{ rtt_ns?: number }> };
  const s = rep.summary;
  fs.rmSync(file, { force: true });
  if (s.lost > 0) throw new Error(`rtinfer ping --transport ${transport} lost ${s.lost} probes`);
  return { p50: s.rtt.percentiles_ms.p50, p99: s.rtt.percentiles_ms.p99, max: s.rtt.max_ms, rttsMs: rep.probes.filter((x) => x.rtt_ns !== undefined).map((x) => x.rtt_ns! / 1e6) };
}

function grpcioPing(port: number): Run {
  const r = spawnSync(PYTHON, [GRPCIO_PING, `127.0.0.1:${port}`, '--count', String(PING_COUNT), '--interval-ms', String(PING_INTERVAL_MS), '--warmup', '200', '--raw'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`grpcio_ping.py failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { percentiles_ms: Record<string, number>; max_ms: number; errors: number; rtt_ns: number[] };
  if (j.errors > 0) throw new Error(`grpcio_ping.py: ${j.errors} errors`);
  return { p50: j.percentiles_ms['50'], p99: j.percentiles_ms['99'], max: j.max_ms, rttsMs: j.rtt_ns.map((x) => x / 1e6) };
}

async function main(): Promise<void> {
  const load0 = os.loadavg()[0];
  process.stderr.write(`ping-p3: ${REPS} rounds of ${PING_COUNT} probes every ${PING_INTERVAL_MS} ms; load ${load0.toFixed(2)}\n`);
  const srv = await startServerChild(['--backend', 'onnxruntime']);
  const rows: Row[] = [];
  const raw: Record<Client, number[][]> = { h2: [], 'grpc-js': [], grpcio: [] };
  try {
    // Warm the server's and each client's paths once, unrecorded.
    rtinferPing(srv.port, 'h2');
    rtinferPing(srv.port, 'grpc-js');
    const order: Client[] = ['h2', 'grpc-js', 'grpcio'];
    for (let round = 1; round <= REPS; round++) {
      for (let k = 0; k < order.length; k++) {
        const client = order[(k + round - 1) % order.length];
        const f = client === 'grpcio' ? grpcioPing(srv.port) : rtinferPing(srv.port, client);
        raw[client].push(f.rttsMs);
        const row = { round, client, p50_ms: f.p50, p99_ms: f.p99, max_ms: f.max, load_avg: os.loadavg()[0] };
        rows.push(row);
        process.stderr.write(`  round ${round} ${client.padEnd(7)} p50 ${f.p50.toFixed(3)} p99 ${f.p99.toFixed(3)} max ${f.max.toFixed(3)} ms (load ${row.load_avg.toFixed(2)})\n`);
      }
    }
  } finally {
    await srv.stop();
  }
  const p99 = (c: Client): number[] => rows.filter((r) => r.client === c).map((r) => r.p99_ms);
  const p50 = (c: Client): number[] => rows.filter((r) => r.client === c).map((r) => r.p50_ms);
  const ref = med(p99('grpcio'));
  const summary = (['h2', 'grpc-js'] as const).map((t) => {
    const per = p99(t).map((x, i) => x / p99('grpcio')[i]);
    const pooled = pooledP99Ratio(raw[t], raw.grpcio);
    return { transport: t, p50_median_ms: med(p50(t)), p99_ms: p99(t), p99_median_ms: med(p99(t)), ratio_of_median_p99s: med(p99(t)) / ref, ratio_per_round: per, pooled, pass: pooled.ratio <= 1 };
  });
  process.stdout.write(`\nP3 = rtinfer ping p99 ÷ grpcio p99, each over all ${REPS} × ${PING_COUNT} probes pooled (grpcio p99 per round ${p99('grpcio').map((x) => x.toFixed(3)).join(', ')} ms, pooled ${summary[0].pooled.denominatorP99.toFixed(3)}; p50 median ${med(p50('grpcio')).toFixed(3)} ms)\n`);
  for (const s of summary) {
    process.stdout.write(
      `  --transport ${s.transport.padEnd(7)} p99 per round ${s.p99_ms.map((x) => x.toFixed(3)).join(', ')} ms, pooled ${s.pooled.numeratorP99.toFixed(3)} (p50 median ${s.p50_median_ms.toFixed(3)}) → ` +
        `P3 ${s.pooled.ratio.toFixed(3)} (bootstrap 95 % CI ${s.pooled.ci95[0].toFixed(2)}–${s.pooled.ci95[1].toFixed(2)}; per round ${s.ratio_per_round.map((x) => x.toFixed(2)).join(', ')}; ratio of median p99s ${s.ratio_of_median_p99s.toFixed(3)}) ${s.pass ? 'PASS' : 'MISSED'} (target ≤ 1.0)\n`,
    );
  }
  process.stdout.write(`  load average: start ${load0.toFixed(2)}, end ${os.loadavg()[0].toFixed(2)}\n`);
  writeBenchJson('ping-p3', [...rows, ...summary.map((s) => ({ summary: s }))]);
}

main().catch((e: unknown) => {
  process.stderr.write(`ping-p3: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
