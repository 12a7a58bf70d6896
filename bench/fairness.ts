/**
 * `npm run bench:fairness [calls]`: the figures behind docs/SECURITY.md's fairness table. The server
 * (`main.js`, MobileNet v1 0.25 from ../shared, default limits) runs in a child process. A polite client on
 * its own connection sends `calls` (default 60) Classify calls at 2 per second: first alone, then beside a
 * greedy client (bench/greedy-client.ts, its own process) whose two ClassifyStreams keep 96 frames outstanding each. Prints p50/p99 and the statuses
 * of each phase; writes out/bench-fairness-<date>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { classify, connect } from '../test/helpers/grpc-client';
import { SHARED_DIR, MOBILENET_JSON } from '../test/helpers/fixtures';
import { startServerProcess } from '../test/helpers/server-process';
import { writeBenchJson } from './out';

const OWN_CONNECTION: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

interface Phase {
  p50: number;
  p99: number;
  byStatus: Record<string, number>;
  /** Medians of the server's own Timing of the OK calls, ms: where the polite client's time went. */
  server_p50_ms: { queue: number; decode: number; inference: number; total: number };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function polite(target: string, image: Buffer, calls: number): Promise<Phase> {
  const c = connect(target, OWN_CONNECTION);
  const ms: number[] = [];
  const byStatus: Record<string, number> = {};
  const parts = { queue: [] as number[], decode: [] as number[], inference: [] as number[], total: [] as number[] };
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    const code = await classify(c, { image, topK: 1 }).then(
      (r) => {
        const t = r.timing;
        if (t) {
          parts.queue.push(Number(t.queueNanos) / 1e6);
          parts.decode.push(Number(t.decodeNanos) / 1e6);
          parts.inference.push(Number(t.inferenceNanos) / 1e6);
          parts.total.push(Number(t.totalNanos) / 1e6);
        }
        return grpc.status.OK;
      },
      (e: grpc.ServiceError) => e.code,
    );
    byStatus[grpc.status[code]] = (byStatus[grpc.status[code]] ?? 0) + 1;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 500));
  }
  c.close();
  ms.sort((a, b) => a - b);
  const mid = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
  return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), byStatus,
    server_p50_ms: { queue: mid(parts.queue), decode: mid(parts.decode), inference: mid(parts.inference), total: mid(parts.total) } };
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 60);
  const imageFile = path.join(SHARED_DIR, 'images', 'coffee.png');
  const image = fs.readFileSync(imageFile);
  // Extra server flags after the call count, e.g. `npm run bench:fairness -- 200 --max-batch 1` to compare.
  const server = await startServerProcess(['--model', path.join(SHARED_DIR, MOBILENET_JSON), '--normalize', 'signed', ...process.argv.slice(3)]);
  const target = `127.0.0.1:${server.port}`;
  let greedy: ChildProcess | undefined;
  try {
    await polite(target, image, 5); // warm-up
    const solo = await polite(target, image, calls);
    // The greedy client runs in its own process: in this one, its event loop would delay the polite
    // client's own reads and the figures would blame the server for it.
    const child = spawn(process.execPath, [path.join(__dirname, 'greedy-client.js'), target, imageFile, '96'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    greedy = child;
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('started\n')) {
      if (greedy.exitCode !== null) throw new Error('the greedy client exited before it started');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const contended = await polite(target, image, calls);
    const g = greedy;
    const exited = new Promise<void>((r) => g.once('exit', () => r()));
    g.kill('SIGTERM');
    await exited;
    const greedyByStatus = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as Record<string, number>;
    const row = { calls, solo, contended, greedyByStatus };
    process.stdout.write(`polite client, ${calls} calls at 2/s      p50 ms   p99 ms   statuses\n`);
    process.stdout.write(`alone                              ${solo.p50.toFixed(1).padStart(7)}  ${solo.p99.toFixed(1).padStart(7)}   ${JSON.stringify(solo.byStatus)}\n`);
    process.stdout.write(`beside the greedy client           ${contended.p50.toFixed(1).padStart(7)}  ${contended.p99.toFixed(1).padStart(7)}   ${JSON.stringify(contended.byStatus)}\n`);
    const srv = (ph: Phase): string => `queue ${ph.server_p50_ms.queue.toFixed(1)}, decode ${ph.server_p50_ms.decode.toFixed(1)}, inference ${ph.server_p50_ms.inference.toFixed(1)}, server total ${ph.server_p50_ms.total.toFixed(1)}`;
    process.stdout.write(`server's timing of the polite calls (p50 ms): alone ${srv(solo)}; beside the greedy client ${srv(contended)}\n`);
    process.stdout.write(`greedy client's frames: ${JSON.stringify(greedyByStatus)}\n`);
    writeBenchJson('fairness', [row]);
  } finally {
    if (greedy && greedy.exitCode === null) greedy.kill('SIGKILL');
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
