/**
 * `npm run bench:ping-p3`: P3 alone, for both of ping's transports —
 * the part of `npm run bench:perf` that needs no model measurements, in a fraction of its time.
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
import * as os from 'node:os';
import { writeBenchJson } from './out';
import { grpcioPing, rtinferPing } from './ping-runs';
import { pooledP99Ratio } from './pooled-p99';
import { median } from '../src/measure/stats';
import { startServerProcess } from '../test/helpers/server-process';

const REPS = Math.max(1, Number(process.env.BENCH_P3_REPS ?? 3));
const PING_COUNT = 1000;
const PING_INTERVAL_MS = 5;
const SCHEDULE = { count: PING_COUNT, intervalMs: PING_INTERVAL_MS, warmup: 200 };

type Client = 'h2' | 'grpc-js' | 'grpcio';
interface Row {
  round: number;
  client: Client;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  load_avg: number;
}

async function main(): Promise<void> {
  const load0 = os.loadavg()[0];
  process.stderr.write(`ping-p3: ${REPS} rounds of ${PING_COUNT} probes every ${PING_INTERVAL_MS} ms; load ${load0.toFixed(2)}\n`);
  const srv = await startServerProcess(['--backend', 'onnxruntime']);
  const rows: Row[] = [];
  const raw: Record<Client, number[][]> = { h2: [], 'grpc-js': [], grpcio: [] };
  try {
    // Warm the server's and each client's paths once, unrecorded.
    rtinferPing(srv.port, 'h2', SCHEDULE);
    rtinferPing(srv.port, 'grpc-js', SCHEDULE);
    const order: Client[] = ['h2', 'grpc-js', 'grpcio'];
    for (let round = 1; round <= REPS; round++) {
      for (let k = 0; k < order.length; k++) {
        const client = order[(k + round - 1) % order.length];
        const f = client === 'grpcio' ? grpcioPing(srv.port, SCHEDULE) : rtinferPing(srv.port, client, SCHEDULE);
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
  const ref = median(p99('grpcio'));
  const summary = (['h2', 'grpc-js'] as const).map((t) => {
    const per = p99(t).map((x, i) => x / p99('grpcio')[i]);
    const pooled = pooledP99Ratio(raw[t], raw.grpcio);
    return { transport: t, p50_median_ms: median(p50(t)), p99_ms: p99(t), p99_median_ms: median(p99(t)), ratio_of_median_p99s: median(p99(t)) / ref, ratio_per_round: per, pooled, pass: pooled.ratio <= 1 };
  });
  process.stdout.write(`\nP3 = rtinfer ping p99 ÷ grpcio p99, each over all ${REPS} × ${PING_COUNT} probes pooled (grpcio p99 per round ${p99('grpcio').map((x) => x.toFixed(3)).join(', ')} ms, pooled ${summary[0].pooled.denominatorP99.toFixed(3)}; p50 median ${median(p50('grpcio')).toFixed(3)} ms)\n`);
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
