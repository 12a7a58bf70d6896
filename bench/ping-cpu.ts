/**
 * `npm run bench:ping-cpu`: client CPU per unary Ping call for the four
 * clients the HTTP/2 decision weighs (docs/decisions/0001-client-http2-transport.md), on one server child
 * (`--backend onnxruntime`; Ping does no model work). BENCH_CPU_REPS rounds (default 3) of, in turn:
 * - `h2` (ours), `node-http2` and `grpc-js`: this process drives the transport (src/client/unary-transport.ts)
 *   in a closed loop, WARMUP calls, then BENCH_CPU_CALLS calls (default 3000); CPU = process.cpuUsage()
 *   (user + system, every thread) ÷ calls;
 * - `grpcio` (gRPC C core): bench/grpcio_ping.py --interval-ms 0 (closed loop, same counts), its getrusage
 *   figure.
 * Also the closed-loop RTT p50/p99 of each. Every round is written to out/bench-ping-cpu-*.json with the
 * 1-minute load average; the table printed last gives each client's median over the rounds.
 */
import * as os from 'node:os';
import { connect, waitForReady } from '../src/client/connect';
import { h2Transport, nodeHttp2Transport } from '../src/client/h2';
import { grpcJsTransport, type UnaryOutcome, type UnaryTransport } from '../src/client/unary-transport';
import { InferenceServiceService, PingRequest } from '../src/gen/inference/v1/inference';
import { median, nearestRank } from '../src/measure/stats';
import { writeBenchJson } from './out';
import { grpcioPing } from './ping-runs';
import { nearestRankSorted } from '../src/measure/stats';
import { startServerProcess } from '../test/helpers/server-process';

const REPS = Math.max(1, Number(process.env.BENCH_CPU_REPS ?? 3));
const CALLS = Math.max(1, Number(process.env.BENCH_CPU_CALLS ?? 3000));
const WARMUP = 300;

const CLIENTS = ['h2', 'node-http2', 'grpc-js', 'grpcio'] as const;
type Client = (typeof CLIENTS)[number];
/** What each row is, for the printed table. */
const LABELS: Record<Client, string> = { h2: 'ours (h2)', 'node-http2': 'node:http2', 'grpc-js': 'grpc-js', grpcio: 'gRPC C core (grpcio)' };

interface Figure {
  cpu_us_per_call: number;
  p50_ms: number;
  p99_ms: number;
}

async function openTransport(kind: Exclude<Client, 'grpcio'>, port: number): Promise<UnaryTransport> {
  const o = { target: `127.0.0.1:${port}`, tls: false, connections: 1, deadlineMs: 5000 };
  if (kind === 'grpc-js') {
    const c = connect(o);
    await waitForReady(c, 5000);
    return grpcJsTransport(c);
  }
  const t = kind === 'h2' ? h2Transport(o) : nodeHttp2Transport(o);
  await t.ready(5000);
  return t;
}

async function nodeTransport(kind: Exclude<Client, 'grpcio'>, port: number): Promise<Figure> {
  const t = await openTransport(kind, port);
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
    return { cpu_us_per_call: (c.user + c.system) / CALLS, p50_ms: nearestRankSorted(rtts, 50), p99_ms: nearestRankSorted(rtts, 99) };
  } finally {
    t.close();
  }
}

function grpcio(port: number): Figure {
  const r = grpcioPing(port, { count: CALLS, intervalMs: 0, warmup: WARMUP });
  return { cpu_us_per_call: r.cpuUsPerCall!, p50_ms: r.p50, p99_ms: r.p99 };
}

type Row = Figure & { round: number; client: Client; load_avg: number };

/** One line per client: the median over the rounds, the rounds' range of CPU, and its ratio to ours. */
function summaryTable(rows: Row[]): string {
  const per = (c: Client, f: (r: Row) => number): number[] => rows.filter((r) => r.client === c).map(f);
  const oursCpu = median(per('h2', (r) => r.cpu_us_per_call));
  const lines = [
    `client CPU per unary Ping call, median of ${REPS} round(s) × ${CALLS} closed-loop calls (${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}):`,
    `${'client'.padEnd(22)}${'CPU µs/call'.padStart(12)}${'range'.padStart(16)}${'× ours'.padStart(8)}${'RTT p50 ms'.padStart(12)}${'RTT p99 ms'.padStart(12)}`,
  ];
  for (const c of CLIENTS) {
    const cpu = per(c, (r) => r.cpu_us_per_call);
    const range = `${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}`;
    lines.push(`${LABELS[c].padEnd(22)}${median(cpu).toFixed(1).padStart(12)}${range.padStart(16)}${(median(cpu) / oursCpu).toFixed(2).padStart(8)}${median(per(c, (r) => r.p50_ms)).toFixed(3).padStart(12)}${median(per(c, (r) => r.p99_ms)).toFixed(3).padStart(12)}`);
  }
  const load = rows.map((r) => r.load_avg);
  lines.push(`1-minute load average during the rounds: ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)} (CPU per call grows on a busy machine)`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  process.stderr.write(`ping-cpu: ${REPS} rounds × ${CALLS} closed-loop calls per client; load ${os.loadavg()[0].toFixed(2)}\n`);
  const srv = await startServerProcess(['--backend', 'onnxruntime']);
  const rows: Row[] = [];
  try {
    for (let round = 1; round <= REPS; round++) {
      for (const client of CLIENTS) {
        const f = client === 'grpcio' ? grpcio(srv.port) : await nodeTransport(client, srv.port);
        const row = { round, client, ...f, load_avg: os.loadavg()[0] };
        rows.push(row);
        process.stdout.write(`round ${round} ${client.padEnd(10)} CPU ${f.cpu_us_per_call.toFixed(1)} µs/call, closed-loop RTT p50 ${f.p50_ms.toFixed(3)} p99 ${f.p99_ms.toFixed(3)} ms (load ${row.load_avg.toFixed(2)})\n`);
      }
    }
  } finally {
    await srv.stop();
  }
  writeBenchJson('ping-cpu', rows);
  process.stdout.write(`\n${summaryTable(rows)}\n`);
  // grpc-js keeps timers alive briefly after close.
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((e: unknown) => {
  process.stderr.write(`ping-cpu: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
