/**
 * `npm run bench:fairness [calls]`: the figures behind docs/SECURITY.md's fairness table. The server
 * (`main.js`, MobileNet v1 0.25 from ../shared, default limits) runs in a child process. A polite client on
 * its own connection sends `calls` (default 60) Classify calls at 2 per second: first alone, then beside a
 * greedy client whose two ClassifyStreams keep 96 frames outstanding each. Prints p50/p99 and the statuses
 * of each phase; writes out/bench-fairness-<date>.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ClassifyRequest, type ClassifyResponse } from '../src/gen/inference/v1/inference';
import { classify, connect } from '../test/helpers/grpc-client';
import { SHARED_DIR, MOBILENET_JSON } from '../test/helpers/fixtures';
import { startServerProcess } from '../test/helpers/server-process';
import { writeBenchJson } from './out';

const OWN_CONNECTION: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

interface Phase {
  p50: number;
  p99: number;
  byStatus: Record<string, number>;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function polite(target: string, image: Buffer, calls: number): Promise<Phase> {
  const c = connect(target, OWN_CONNECTION);
  const ms: number[] = [];
  const byStatus: Record<string, number> = {};
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    const code = await classify(c, { image, topK: 1 }).then(
      () => grpc.status.OK,
      (e: grpc.ServiceError) => e.code,
    );
    byStatus[grpc.status[code]] = (byStatus[grpc.status[code]] ?? 0) + 1;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 500));
  }
  c.close();
  ms.sort((a, b) => a - b);
  return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), byStatus };
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 60);
  const image = fs.readFileSync(path.join(SHARED_DIR, 'images', 'coffee.png'));
  const server = await startServerProcess(['--model', path.join(SHARED_DIR, MOBILENET_JSON), '--normalize', 'signed']);
  const target = `127.0.0.1:${server.port}`;
  try {
    await polite(target, image, 5); // warm-up
    const solo = await polite(target, image, calls);
    const greedy = connect(target, OWN_CONNECTION);
    const greedyByStatus: Record<string, number> = {};
    let stop = false;
    const streams = [0, 1].map(() => {
      const call = greedy.classifyStream();
      let sent = 0;
      let answered = 0;
      const top = (): void => {
        while (!stop && sent - answered < 96) {
          call.write(ClassifyRequest.fromPartial({ image, topK: 1 }));
          sent++;
        }
      };
      call.on('data', (r: ClassifyResponse) => {
        answered++;
        const name = grpc.status[r.error?.code ?? 0];
        greedyByStatus[name] = (greedyByStatus[name] ?? 0) + 1;
        top();
      });
      call.on('error', () => undefined);
      top();
      return call;
    });
    await new Promise((r) => setTimeout(r, 1000));
    const contended = await polite(target, image, calls);
    stop = true;
    streams.forEach((s) => s.end());
    greedy.close();
    const row = { calls, solo, contended, greedyByStatus };
    process.stdout.write(`polite client, ${calls} calls at 2/s      p50 ms   p99 ms   statuses\n`);
    process.stdout.write(`alone                              ${solo.p50.toFixed(1).padStart(7)}  ${solo.p99.toFixed(1).padStart(7)}   ${JSON.stringify(solo.byStatus)}\n`);
    process.stdout.write(`beside the greedy client           ${contended.p50.toFixed(1).padStart(7)}  ${contended.p99.toFixed(1).padStart(7)}   ${JSON.stringify(contended.byStatus)}\n`);
    process.stdout.write(`greedy client's frames: ${JSON.stringify(greedyByStatus)}\n`);
    writeBenchJson('fairness', [row]);
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
