/**
 * What an unauthenticated client can make the server hold before any handler runs, with the server's
 * default limits (ingress-guard.ts, the HTTP/2 settings in app.ts, the Ping cap). Memory is measured in
 * this process (server and client share it) after a full GC while the attack is still in place; the bounds
 * are generous but far below what the same attack held before these limits (in brackets in each title).
 */
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { ClassifyRequest } from '../src/gen/inference/v1/inference';
import { MAX_REQUEST_ID_BYTES } from '../src/server/service';
import { classify, connect, ping, serverInfo, statusOf } from './helpers/grpc-client';
import { MiB, retainedBytes } from './helpers/heap';
import { mobilenetServer } from './helpers/mobilenet-server';

const CLASSIFY = '/inference.v1.InferenceService/Classify';
const CLASSIFY_STREAM = '/inference.v1.InferenceService/ClassifyStream';

interface RawCall {
  stream: http2.ClientHttp2Stream;
  /** The grpc-status of the call (from its headers or trailers); undefined code if the stream closed without one. */
  status: Promise<{ code?: number; message?: string }>;
  /** Whether a grpc-status arrived. */
  answered(): boolean;
}

/**
 * A gRPC call over plain HTTP/2 whose body the test writes itself, from a client that never reads response
 * bodies (a paused stream never 'close's, so the status is taken from the headers and trailers).
 */
function rawCall(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}): RawCall {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  let answered = false;
  const status = new Promise<{ code?: number; message?: string }>((resolve) => {
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] === undefined) return;
      answered = true;
      resolve({ code: Number(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) });
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('close', () => resolve({}));
  });
  stream.on('error', () => undefined);
  stream.pause();
  return { stream, status, answered: () => answered };
}

function messageHeader(compressed: boolean, length: number): Buffer {
  const h = Buffer.alloc(5);
  h[0] = compressed ? 1 : 0;
  h.writeUInt32BE(length, 1);
  return h;
}

const until = async (what: string, cond: () => boolean, ms = 60_000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('idle connections are closed (--max-connection-idle-ms)', () => {
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'silent', maxConnectionIdleMs: 200 });

  it('a connection with no call gets GOAWAY once idle (grpc-js alone: never)', async () => {
    const session = http2.connect(`http://${live.target}`);
    session.on('error', () => undefined);
    try {
      // No upper bound on when: only that it happens (mocha's timeout is the limit).
      await new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    } finally {
      session.destroy();
    }
  });
});

describe('ingress limits: what a client can make the server hold (default limits)', () => {
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'silent' });
  let session: http2.ClientHttp2Session;
  beforeEach(async () => {
    // A large session memory: the attacking client buffers what it sends, and Node's 10 MB default would
    // make it reset its own streams (ENHANCE_YOUR_CALM) before the server ever saw the bytes.
    session = http2.connect(`http://${live.target}`, { maxSessionMemory: 1024 });
    session.on('error', () => undefined);
    await new Promise((r) => session.once('remoteSettings', r));
  });
  afterEach(() => session.destroy());

  it('advertises at most 100 concurrent streams per connection (grpc-js alone: 4 294 967 295)', () => {
    expect(session.remoteSettings.maxConcurrentStreams).to.equal(100);
  });

  it('compressed requests are refused before they are inflated: gzip frames on 2 paused streams (held 512 MiB)', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(8 * MiB - 64)); // inflates to just under the max message size
    expect(bomb.length).to.be.lessThan(64 * 1024);
    const before = await retainedBytes();
    const calls = [0, 1].map(() => {
      const c = rawCall(session, CLASSIFY_STREAM, { 'grpc-encoding': 'gzip' });
      for (let i = 0; i < 16; i++) c.stream.write(Buffer.concat([messageHeader(true, bomb.length), bomb]));
      return c;
    });
    const statuses = await Promise.all(calls.map((c) => c.status));
    const grown = (await retainedBytes()) - before;
    console.log(`      (retained with 2 streams × 16 gzip frames sent: ${(grown / MiB).toFixed(1)} MiB)`);
    for (const s of statuses) {
      expect(s.code).to.equal(grpc.status.UNIMPLEMENTED);
      expect(s.message).to.equal('compressed requests are not accepted (grpc-encoding gzip); send them uncompressed (images are compressed already)');
    }
    expect(grown).to.be.lessThan(48 * MiB);
    // A grpc-js client configured to compress gets the same answer.
    const gz = new grpc.Client(live.target, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      gz.makeUnaryRequest('/inference.v1.InferenceService/Ping', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([8, 1]), new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e) => resolve(e)),
    );
    gz.close();
    expect(err?.code).to.equal(grpc.status.UNIMPLEMENTED);
  });

  it('calls stalled mid-message: bytes received and not processed stay within --max-pending-bytes (40 × 6 MiB held 240 MiB)', async () => {
    const before = await retainedBytes();
    const chunk = Buffer.alloc(256 * 1024, 7);
    const stalled = (): RawCall => {
      const c = rawCall(session, CLASSIFY);
      c.stream.write(messageHeader(false, 8 * MiB - 5)); // declares a message just under the limit…
      for (let i = 0; i < 24; i++) c.stream.write(chunk); // …sends 6 MiB of it and stalls
      // Once answered, the attacker drops what it still had to send: only the server's memory counts here.
      void c.status.then(() => c.stream.destroy());
      return c;
    };
    const calls = Array.from({ length: 40 }, stalled);
    const refused: number[] = [];
    calls.forEach((c, i) => void c.status.then((s) => s.code === grpc.status.RESOURCE_EXHAUSTED && refused.push(i)));
    // Settled: every call's bytes were either all taken in (within the budget) or the call was refused.
    await until('the stalled calls to settle', () => calls.every((c) => c.answered() || c.stream.writableLength === 0));
    await new Promise((r) => setTimeout(r, 100));
    const grown = (await retainedBytes()) - before;
    const held = calls.filter((c) => !c.answered()).length;
    console.log(`      (40 calls stalled after 6 MiB each: ${refused.length} refused, ${held} held; retained ${(grown / MiB).toFixed(1)} MiB)`);
    expect(refused.length + held).to.equal(40);
    expect(refused.length, 'calls refused with RESOURCE_EXHAUSTED').to.be.at.least(20);
    expect(grown).to.be.lessThan(128 * MiB);
    // While the held calls keep the budget nearly spent, the next call or two that stall the same way are
    // refused as soon as their bytes would exceed it, with a message saying why.
    let busy: { code?: number; message?: string } = {};
    for (let i = 0; i < 12 && busy.code === undefined; i++) {
      const more = stalled();
      await until('the extra call to settle', () => more.answered() || more.stream.writableLength === 0);
      await new Promise((r) => setTimeout(r, 50));
      if (more.answered()) busy = await more.status;
    }
    expect(busy.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(busy.message).to.match(/^server busy: [\d.]+ MiB of requests received and not yet processed \(--max-pending-bytes 64\.0 MiB\); retry later$/);
    const c = connect(live.target);
    // Gone with their connection: the budget is free again.
    session.destroy();
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await classify(c, { image: live.coffee, topK: 1 }).then(() => true, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    c.close();
    expect(ok, 'classifies once the stalled calls are gone').to.equal(true);
  });

  it('Ping cannot amplify: response_bytes over 1 MiB is refused (a 9-byte request returned 16 MiB)', async () => {
    const c = connect(live.target);
    const errs = await Promise.all(Array.from({ length: 40 }, (_, i) => statusOf(ping(c, { seq: BigInt(i), responseBytes: 16 * MiB - 64 }))));
    c.close();
    expect(errs.every((e) => e.code === grpc.status.INVALID_ARGUMENT && /over the limit of 1048576 \(--max-ping-response-bytes\)/.test(e.details))).to.equal(true);
  });

  it(`request_id over ${MAX_REQUEST_ID_BYTES} bytes → INVALID_ARGUMENT, and it is not echoed`, async () => {
    const c = connect(live.target);
    const long = 'r'.repeat(MAX_REQUEST_ID_BYTES + 1);
    const err = await statusOf(classify(c, { image: live.coffee, requestId: long }));
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.equal(`request_id is ${MAX_REQUEST_ID_BYTES + 1} bytes, over the limit of ${MAX_REQUEST_ID_BYTES}`);
    const ok = await classify(c, { image: live.coffee, requestId: 'r'.repeat(MAX_REQUEST_ID_BYTES) });
    expect(ok.requestId).to.have.length(MAX_REQUEST_ID_BYTES);
    const stream = c.classifyStream();
    const got: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (r: { requestId: string; error?: { code: number } }) => got.push(`${r.error?.code ?? 0}:${r.requestId.length}`));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(ClassifyRequest.fromPartial({ image: live.coffee, requestId: long }));
    stream.end();
    await done;
    c.close();
    expect(got, 'the frame is refused; its response carries a shortened id').to.deep.equal([`${grpc.status.INVALID_ARGUMENT}:33`]);
  });

  it('responses name the model and its provenance, never a path or URL', async () => {
    const c = connect(live.target);
    const info = await serverInfo(c);
    const r = await classify(c, { image: live.coffee, topK: 1 });
    c.close();
    const shown = [info.model!.source, info.model!.labelsSource, info.model!.weightsSource, r.model!.weightsSource];
    expect(shown.some((s) => /[\\/]/.test(s)), shown.join(' | ')).to.equal(false);
    expect(r.model!.weightsSource).to.equal('mobilenet_v1_0.25_224');
  });
});
