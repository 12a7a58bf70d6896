/**
 * Fuzz: 2200 mutated images (bit flips, truncations, splices of real JPEG/PNG/WebP/GIF/TIFF) through
 * Classify (1200) and ClassifyStream (1000). Every answer must be OK or INVALID_ARGUMENT, the server must
 * stay up, nothing may be left queued, and the tfjs tensor count (`tf.memory().numTensors`, via
 * engine.liveTensors()) must be back at its idle value: the server runs on the wasm backend for that, since
 * onnxruntime has no tensor registry to check. Small source images keep it fast enough for `npm test`.
 */
import * as fs from 'node:fs';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { ClassifyRequest, type ClassifyResponse } from '../src/gen/inference/v1/inference';
import { startServer, type RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { classify, connect, ping, scrapeMetrics, type Client } from './helpers/grpc-client';
import { mulberry32 } from '../src/shared/prng';

const rng = mulberry32;

function mutate(bases: Buffer[], r: () => number): Buffer {
  const a = bases[Math.floor(r() * bases.length)];
  const kind = Math.floor(r() * 4);
  if (kind === 0) {
    const b = Buffer.from(a);
    const flips = 1 + Math.floor(r() * 24);
    for (let i = 0; i < flips; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
    return b;
  }
  if (kind === 1) return a.subarray(0, Math.floor(r() * a.length));
  if (kind === 2) {
    const b = bases[Math.floor(r() * bases.length)];
    return Buffer.concat([a.subarray(0, Math.floor(r() * a.length)), b.subarray(Math.floor(r() * b.length))]);
  }
  // Overwrite a run of bytes inside the header region, where the parsers are most exposed.
  const b = Buffer.from(a);
  const start = Math.floor(r() * Math.min(200, b.length));
  for (let i = start; i < Math.min(b.length, start + 1 + Math.floor(r() * 16)); i++) b[i] = Math.floor(r() * 256);
  return b;
}

async function sources(chelseaPath: string): Promise<Buffer[]> {
  const small = sharp(fs.readFileSync(chelseaPath)).resize(48, 32);
  return [
    await small.clone().jpeg({ quality: 80 }).toBuffer(),
    await small.clone().jpeg({ quality: 80, progressive: true }).toBuffer(),
    await small.clone().png().toBuffer(),
    await small.clone().webp().toBuffer(),
    await small.clone().gif().toBuffer(),
    await small.clone().tiff().toBuffer(),
  ];
}

describe('server: fuzzing with mutated images', function () {
  let server: RunningServer;
  let client: Client;
  let bases: Buffer[];
  let idleTensors: number | undefined;

  before(async function () {
    bases = await sources(sharedFixture(this, 'images/chelsea.jpg'));
    server = await startServer({ drainDelayMs: 0, port: 0, backend: 'wasm', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'error', maxQueue: 256, metricsPort: 0, metricsHost: '127.0.0.1' });
    client = connect(`127.0.0.1:${server.port}`);
    idleTensors = server.served.engine.liveTensors();
    expect(idleTensors, 'the wasm engine reports tfjs tensors').to.be.a('number');
  });

  after(async () => {
    client?.close();
    await server?.shutdown(2000);
  });

  it('1200 mutated images through Classify: only OK or INVALID_ARGUMENT, server alive', async () => {
    const r = rng(20261123);
    const codes = new Map<string, number>();
    const N = 1200;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) {
        next++;
        const image = mutate(bases, r);
        try {
          await classify(client, { image, topK: 1 });
          codes.set('OK', (codes.get('OK') ?? 0) + 1);
        } catch (err) {
          const e = err as grpc.ServiceError;
          const key = grpc.status[e.code] ?? String(e.code);
          codes.set(key, (codes.get(key) ?? 0) + 1);
          if (e.code !== grpc.status.INVALID_ARGUMENT) throw new Error(`unexpected ${key}: ${e.details}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.log(`      (unary: ${[...codes].map(([k, v]) => `${k} ${v}`).join(', ')})`);
    expect([...codes.values()].reduce((a, b) => a + b, 0)).to.equal(N);
    expect(codes.get('INVALID_ARGUMENT') ?? 0, 'the mutations do break images').to.be.greaterThan(N / 10);
    expect(codes.get('OK') ?? 0, 'and some still decode').to.be.greaterThan(N / 10);
    expect((await ping(client, { seq: 1n })).seq).to.equal(1n);
    expect(server.batcher.stats()).to.include({ queued: 0, inFlightBatches: 0, failedBatches: 0 });
    expect(server.served.engine.liveTensors(), 'tfjs tensors back at idle').to.equal(idleTensors);
  });

  it('1000 mutated frames on one ClassifyStream: one response each, in order, stream survives', async () => {
    const r = rng(4242);
    const N = 1000;
    const call = client.classifyStream();
    const got: ClassifyResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (res: ClassifyResponse) => got.push(res));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (let i = 0; i < N; i++) {
      // Respect flow control: wait when grpc-js says its buffer is full.
      if (!call.write(ClassifyRequest.fromPartial({ image: mutate(bases, r), topK: 1, requestId: String(i) }))) {
        await new Promise((res) => call.once('drain', res));
      }
    }
    call.end();
    await done;
    expect(got.map((g) => g.requestId)).to.deep.equal(Array.from({ length: N }, (_, i) => String(i)));
    const errors = got.filter((g) => g.error);
    expect(errors.every((g) => g.error!.code === grpc.status.INVALID_ARGUMENT), JSON.stringify(errors.find((g) => g.error!.code !== grpc.status.INVALID_ARGUMENT)?.error)).to.equal(true);
    expect(got.filter((g) => !g.error).every((g) => g.predictions.length === 1)).to.equal(true);
    console.log(`      (stream: ${N - errors.length} OK, ${errors.length} INVALID_ARGUMENT frames)`);
    expect(server.batcher.stats()).to.include({ queued: 0, inFlightBatches: 0 });
    expect(server.served.engine.liveTensors(), 'tfjs tensors back at idle').to.equal(idleTensors);
    // The same figure from outside, as an operator (and the soak test) reads it.
    const text = await scrapeMetrics(server.metricsPort!);
    expect(text).to.match(new RegExp(`^inference_engine_live_tensors ${idleTensors}$`, 'm'));
  });
});
