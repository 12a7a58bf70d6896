/**
 * `node dist/bench/ping-cpu.js` (after `npm run build`): client CPU per unary Ping call, the figure behind
 * ping's own HTTP/2 transport (docs/PERFORMANCE.md, "Client noise floor"). Against one server child
 * (`--backend onnxruntime`; Ping does no model work), BENCH_CPU_REPS rounds (default 3) of, in turn:
 * - `h2` and `grpc-js`: this process drives the transport (src/client/unary-transport.ts) in a closed loop,
 *   300 warm-up calls, then CALLS calls; CPU = process.cpuUsage() (user + system, every thread) ÷ CALLS;
 * - `grpcio`: bench/grpcio_ping.py --interval-ms 0 (closed loop, same counts), its getrusage figure.
 * Also the closed-loop RTT p50/p99 of each. The 1-minute load average is printed with every figure.
 */
import * as os from 'node:os';
import { connect, waitForReady } from '../src/client/connect';
import { h2Transport } from '../src/client/h2';
import { grpcJsTransport, type UnaryOutcome, type UnaryTransport } from '../src/client/unary-transport';
import { InferenceServiceService, PingRequest } from '../src/gen/inference/v1/inference';
import { writeBenchJson } from './out';
import { grpcioPing } from './ping-runs';
import { nearestRank } from './pooled-p99';
import { startServerChild } from './server-child';

const REPS = Math.max(1, Number(process.env.BENCH_CPU_REPS ?? 3));
const CALLS = 3000;
const WARMUP = 300;

interface Figure {
  cpu_us_per_call: number;
  p50_ms: number;
  p99_ms: number;
}

async function nodeTransport(kind: 'h2' | 'grpc-js', port: number): Promise<Figure> {
  const o = { target: `127.0.0.1:${port}`, tls: false, connections: 1, deadlineMs: 5000 };
  let t: UnaryTransport;
  if (kind === 'h2') {
    const h = h2Transport(o);
    await h.ready(5000);
    t = h;
  } else {
    const c = connect(o);
    await waitForReady(c, 5000);
    t = grpcJsTransport(c);
  }
  const req = Buffer.from(PingRequest.encode({ seq: 1n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 1n << 60n }).finish());
  const call = (): Promise<UnaryOutcome> => new Promise((r) => t.unary(0, InferenceServiceService.ping.path, req, r));
  try {
    for (let i = 0; i < WARMUP; i++) await call();
    const rtts: number[] = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) {
      const r = await call();
      if (r.code !== 0) throw new Error(`${kind}: call failed: ${r.details}`);
      rtts.push(Number(r.endNs - r.sentNs) / 1e6);
    }
    const c = process.cpuUsage(c0);
    rtts.sort((a, b) => a - b);
    return { cpu_us_per_call: (c.user + c.system) / CALLS, p50_ms: nearestRank(rtts, 50), p99_ms: nearestRank(rtts, 99) };
  } finally {
    t.close();
  }
}

function grpcio(port: number): Figure {
  const r = grpcioPing(port, { count: CALLS, intervalMs: 0, warmup: WARMUP });
  return { cpu_us_per_call: r.cpuUsPerCall!, p50_ms: r.p50, p99_ms: r.p99 };
}

async function main(): Promise<void> {
  process.stderr.write(`ping-cpu: ${REPS} rounds × ${CALLS} closed-loop calls per client; load ${os.loadavg()[0].toFixed(2)}\n`);
  const srv = await startServerChild(['--backend', 'onnxruntime']);
  const rows: Array<Figure & { round: number; client: string; load_avg: number }> = [];
  try {
    for (let round = 1; round <= REPS; round++) {
      for (const client of ['h2', 'grpc-js', 'grpcio'] as const) {
        const f = client === 'grpcio' ? grpcio(srv.port) : await nodeTransport(client, srv.port);
        const row = { round, client, ...f, load_avg: os.loadavg()[0] };
        rows.push(row);
        process.stdout.write(`round ${round} ${client.padEnd(7)} CPU ${f.cpu_us_per_call.toFixed(1)} µs/call, closed-loop RTT p50 ${f.p50_ms.toFixed(3)} p99 ${f.p99_ms.toFixed(3)} ms (load ${row.load_avg.toFixed(2)})\n`);
      }
    }
  } finally {
    await srv.stop();
  }
  writeBenchJson('ping-cpu', rows);
  // grpc-js keeps timers alive briefly after close.
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((e: unknown) => {
  process.stderr.write(`ping-cpu: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
