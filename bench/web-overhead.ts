/**
 * `npm run bench:web` (node dist/bench/web-overhead.js): what a browser adds to the web port's figures
 * (docs/decisions/0022). One server in this process with --web-port (the workspace's MobileNet when
 * ../shared has it, else the built-in GoogLeNet; Ping does no model work either way), then on loopback, 30
 * requests 20 ms apart each, p50 and p90 of:
 * - curl's own time_total for a Connect JSON Ping;
 * - connect-node's gRPC-web client (HTTP/1.1) from this process;
 * - in headless Chromium (Debian's, via puppeteer-core): fetch of the page's index.html, a Connect JSON Ping,
 *   a raw gRPC-web Ping, and the page's own Ping panel (connect-web);
 * and the web port's adapter cost per Classify (web-service.ts: protobuf-es → bytes → the gRPC port's
 * decoder, and back for the response) for a 224×224 JPEG. Writes out/bench-web-<date>.json.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import sharp from 'sharp';
import { ClassifyRequestSchema, ClassifyResponseSchema, InferenceService } from '../src/gen/inference/v1/inference_pb';
import { nearestRank } from '../src/measure/stats';
import { startServer } from '../src/server/app';
import { inferenceServiceDefinition } from '../src/server/service';
import { CHROMIUM_CANDIDATES } from '../test/helpers/chromium';
import { MOBILENET_JSON, SHARED_DIR } from '../test/helpers/fixtures';
import { writeBenchJson } from './out';

const run = promisify(execFile);
const N = 30;
const GAP_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function timed(f: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
    await sleep(GAP_MS);
  }
  return out;
}

function adapterCostUs(jpeg: Buffer, calls: number): number {
  const req = create(ClassifyRequestSchema, { image: new Uint8Array(jpeg), topK: 5 });
  const def = inferenceServiceDefinition.classify;
  const res = {
    requestId: '1',
    predictions: Array.from({ length: 5 }, (_, i) => ({ classIndex: i, label: 'Egyptian cat', probability: 0.3 })),
    model: { name: 'm', weights: 1, weightsSource: 'x' },
    timing: { queueNanos: 1n, decodeNanos: 1n, preprocessNanos: 1n, inferenceNanos: 1n, postprocessNanos: 1n, totalNanos: 1n, batchSize: 1, serverReceiveUnixNanos: 1n, serverSendUnixNanos: 1n, clientSendUnixNanos: 0n },
    error: undefined,
    serverId: 'bench',
  };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    def.requestDeserialize(Buffer.from(toBinary(ClassifyRequestSchema, req)));
    fromBinary(ClassifyResponseSchema, def.responseSerialize(res));
  }
  return Number(process.hrtime.bigint() - t0) / calls / 1000;
}

async function main(): Promise<void> {
  const chromium = CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
  if (!chromium) throw new Error(`no Chromium (tried ${CHROMIUM_CANDIDATES.join(', ')})`);
  const mobilenet = path.join(SHARED_DIR, MOBILENET_JSON);
  const server = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, logLevel: 'error', ...(fs.existsSync(mobilenet) ? { model: mobilenet, normalize: 'signed' as const } : {}) });
  const base = `http://127.0.0.1:${server.webPort}`;
  const rows: Array<{ what: string; p50_ms: number; tail: 'p90' | 'p99'; tail_ms: number }> = [];
  const add = (what: string, xs: number[]): void => {
    rows.push({ what, p50_ms: nearestRank(xs, 50), tail: 'p90', tail_ms: nearestRank(xs, 90) });
  };
  try {
    const curl: number[] = [];
    for (let i = 0; i < N; i++) {
      // The server runs in this process: curl must run asynchronously, or it would wait for a blocked loop.
      const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total}', '-H', 'content-type: application/json', '-d', '{}', `${base}/inference.v1.InferenceService/Ping`]);
      curl.push(Number(stdout) * 1000);
      await sleep(GAP_MS);
    }
    add('curl, Connect JSON Ping (new connection each)', curl);
    const node = createClient(InferenceService, createGrpcWebTransport({ baseUrl: base, httpVersion: '1.1' }));
    add('connect-node gRPC-web Ping (HTTP/1.1)', await timed(() => node.ping({})));

    const puppeteer = await import('puppeteer-core');
    const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      // Runs in the page, so it is source text (this file is compiled without the DOM library).
      const inPage = (await page.evaluate(`(async () => {
        const time = async (f) => { const r = []; for (let i = 0; i < ${N}; i++) { const t = performance.now(); await f(); r.push(performance.now() - t); await new Promise((z) => setTimeout(z, ${GAP_MS})); } return r; };
        return {
          get: await time(() => fetch('/index.html').then((r) => r.arrayBuffer())),
          json: await time(() => fetch('/inference.v1.InferenceService/Ping', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.arrayBuffer())),
          grpcweb: await time(() => fetch('/inference.v1.InferenceService/Ping', { method: 'POST', headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' }, body: new Uint8Array(5) }).then((r) => r.arrayBuffer())),
        };
      })()`)) as { get: number[]; json: number[]; grpcweb: number[] };
      add('Chromium fetch, GET index.html', inPage.get);
      add('Chromium fetch, Connect JSON Ping', inPage.json);
      add('Chromium fetch, raw gRPC-web Ping', inPage.grpcweb);
      await page.evaluate(`document.getElementById('ping-count').value = '${N}'; document.getElementById('ping-interval').value = '${GAP_MS}'`);
      await page.click('#ping-start');
      await page.waitForFunction(`document.getElementById('ping-sent').textContent === '${N}/${N}'`, { timeout: 60_000 });
      const p50 = Number(await page.$eval('#ping-rtt-ms', (e) => e.textContent));
      const p99 = Number(await page.$eval('#ping-rtt-p99-ms', (e) => e.textContent));
      rows.push({ what: "the page's Ping panel (connect-web)", p50_ms: p50, tail: 'p99', tail_ms: p99 });
    } finally {
      await browser.close();
    }
  } finally {
    await server.shutdown(0);
  }
  const jpeg = await sharp(path.join(SHARED_DIR, 'images', 'chelsea.jpg')).resize(224, 224).jpeg({ quality: 85 }).toBuffer().catch(() => sharp({ create: { width: 224, height: 224, channels: 3, background: '#808080' } }).jpeg().toBuffer());
  adapterCostUs(jpeg, 2000); // warm-up
  const us = adapterCostUs(jpeg, 20_000);
  process.stdout.write(`web port overhead, loopback, ${N} requests ${GAP_MS} ms apart each\n`);
  for (const r of rows) process.stdout.write(`${r.what.padEnd(48)} p50 ${r.p50_ms.toFixed(2).padStart(6)} ms   ${r.tail} ${r.tail_ms.toFixed(2).padStart(6)} ms\n`);
  process.stdout.write(`adapter re-encoding per Classify (${jpeg.length} B JPEG, 5 predictions): ${us.toFixed(1)} µs (20 000 calls after 2 000 warm-up)\n`);
  writeBenchJson('web', [...rows, { what: 'adapter_us_per_classify', jpeg_bytes: jpeg.length, us }]);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
