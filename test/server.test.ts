import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ClassifyRequest, ClassifyResponse, WeightsProvenance } from '../src/gen/inference/v1/inference';
import { startServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { mobilenetServer } from './helpers/mobilenet-server';
import { pngBomb } from './helpers/image-bombs';
import { classify, connect, healthCheck, ping, rawClassifyStream, rawUnary, scrapeMetrics, serverInfo, statusOf, unaryWithServerDeadline } from './helpers/grpc-client';

/** ImageNet-1k indices 281..285: tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat. */
const DOMESTIC_CATS = [281, 282, 283, 284, 285];
const ESPRESSO = 967;

function randomBytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('server: integration with the real MobileNet (startServer on port 0)', function () {
  const live = mobilenetServer({ logLevel: 'error', streamWindow: 4, serverId: 'replica-a' }); // small window: streams exercise flow control
  before(() => {
    console.log(`      (server SERVING ${live.server.startupMs.toFixed(0)} ms after startServer, backend ${live.server.served.engine.info.backend})`);
  });

  it('is SERVING on grpc.health.v1 for "" and the inference service once startServer resolves', async () => {
    expect(await healthCheck(live.target)).to.equal('SERVING');
    expect(await healthCheck(live.target, 'inference.v1.InferenceService')).to.equal('SERVING');
  });

  it('binds dual-stack: reachable on 127.0.0.1 and on ::1', async () => {
    for (const t of [`127.0.0.1:${live.server.port}`, `[::1]:${live.server.port}`]) {
      const c = connect(t);
      try {
        expect((await ping(c, { seq: 42n })).seq).to.equal(42n);
      } finally {
        c.close();
      }
    }
  });

  it('classifies chelsea.jpg with a domestic cat class in the top 3', async () => {
    const r = await classify(live.client, { image: live.chelsea, topK: 3, requestId: 'cat-1' });
    expect(r.requestId).to.equal('cat-1');
    expect(r.predictions).to.have.length(3);
    const idx = r.predictions.map((p) => p.classIndex);
    expect(idx.some((i) => DOMESTIC_CATS.includes(i)), `top 3: ${r.predictions.map((p) => p.label).join(', ')}`).to.equal(true);
    expect(r.predictions[0].probability).to.be.at.least(r.predictions[1].probability);
  });

  it('classifies coffee.png as espresso (top 1), with model provenance and a full timing breakdown', async () => {
    const clientSend = 1_700_000_000_123_456_789n;
    const r = await classify(live.client, { image: live.coffee, topK: 1, requestId: 'coffee', clientSendUnixNanos: clientSend });
    expect(r.predictions[0].classIndex).to.equal(ESPRESSO);
    expect(r.predictions[0].label).to.match(/espresso/);
    expect(r.predictions[0].probability).to.be.greaterThan(0.5);
    expect(r.model).to.deep.include({ name: 'mobilenet_v1_0.25_224', weights: WeightsProvenance.WEIGHTS_PROVENANCE_REAL });
    expect(r.model!.weightsSource).to.match(/mobilenet_v1_0\.25_224/);
    const t = r.timing!;
    expect(t.decodeNanos > 0n && t.preprocessNanos > 0n && t.inferenceNanos > 0n && t.postprocessNanos > 0n).to.equal(true);
    expect(t.batchSize).to.be.at.least(1);
    const parts = t.queueNanos + t.decodeNanos + t.preprocessNanos + t.inferenceNanos + t.postprocessNanos;
    expect(t.totalNanos >= parts, 'total covers its parts').to.equal(true);
    expect(t.serverSendUnixNanos - t.serverReceiveUnixNanos).to.equal(t.totalNanos);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(Number(nowNs - t.serverReceiveUnixNanos) / 1e6, 'receive stamp is wall clock').to.be.within(-50, 30_000);
    expect(t.clientSendUnixNanos).to.equal(clientSend);
    console.log(
      `      (timing ms: queue ${ms(t.queueNanos)} decode ${ms(t.decodeNanos)} preprocess ${ms(t.preprocessNanos)} ` +
        `inference ${ms(t.inferenceNanos)} postprocess ${ms(t.postprocessNanos)} total ${ms(t.totalNanos)} batch ${t.batchSize})`,
    );
  });

  it('top_k 0 means 5; top_k beyond the class count returns every class, best first', async () => {
    expect((await classify(live.client, { image: live.chelsea })).predictions).to.have.length(5);
    const all = await classify(live.client, { image: live.chelsea, topK: 100_000 });
    expect(all.predictions).to.have.length(1000);
    const probs = all.predictions.map((p) => p.probability);
    expect(probs.every((p, i) => i === 0 || probs[i - 1] >= p)).to.equal(true);
    expect(probs.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-3);
  });

  it('bad images → INVALID_ARGUMENT with a clear message, and the server lives on', async function () {
    const truncated = fs.readFileSync(sharedFixture(this, 'images/truncated.jpg'));
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated.jpg', truncated, /premature end of JPEG|corrupt/],
      ['random bytes', randomBytes(5000), /unsupported image format/],
      ['0 bytes', Buffer.alloc(0), /empty \(0 bytes\)/],
      ['pixel bomb', pngBomb(30000, 30000), /30000×30000 .* over the limit/],
      ['half a JPEG', live.chelsea.subarray(0, live.chelsea.length >> 1), /could not be decoded/],
    ];
    for (const [name, image, msg] of cases) {
      const err = await statusOf(classify(live.client, { image }));
      expect(err.code, name).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(err.details, name).to.match(msg);
    }
    expect((await classify(live.client, { image: live.coffee, topK: 1 })).predictions[0].classIndex).to.equal(ESPRESSO);
  });

  it('a request that is not a valid protobuf → INVALID_ARGUMENT (not INTERNAL); unknown fields are ignored', async () => {
    const err = await statusOf(rawUnary(live.target, '/inference.v1.InferenceService/Classify', Buffer.from([0x0a, 0x05, 0x01])));
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.match(/not a valid inference\.v1\.ClassifyRequest/);
    // Field 99 (varint) appended: a newer client's field this server does not know.
    const withUnknown = Buffer.concat([Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1 })).finish()), Buffer.from([0x98, 0x06, 0x01])]);
    const res = ClassifyResponse.decode(await rawUnary(live.target, '/inference.v1.InferenceService/Classify', withUnknown));
    expect(res.predictions[0].classIndex).to.equal(ESPRESSO);
  });

  it('a message over the max size → RESOURCE_EXHAUSTED; the server lives on', async () => {
    const err = await statusOf(classify(live.client, { image: Buffer.alloc(17 * 1024 * 1024, 1) }));
    expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect((await ping(live.client, { seq: 1n })).seq).to.equal(1n);
  });

  it('Ping echoes seq, payload and client stamp, pads the response, stamps receive/send', async () => {
    const payload = randomBytes(1000, 7);
    const r = await ping(live.client, { seq: 9n, payload, echoPayload: true, responseBytes: 4096, clientSendUnixNanos: 123n });
    expect(r.seq).to.equal(9n);
    expect(Buffer.compare(r.payload, payload)).to.equal(0);
    expect(r.padding.length).to.equal(4096);
    expect(r.payloadBytesReceived).to.equal(1000);
    expect(r.clientSendUnixNanos).to.equal(123n);
    expect(r.serverSendUnixNanos >= r.serverReceiveUnixNanos && r.serverReceiveUnixNanos > 0n).to.equal(true);
    const quiet = await ping(live.client, { seq: 10n, payload });
    expect([quiet.payload.length, quiet.payloadBytesReceived]).to.deep.equal([0, 1000]);
    const err = await statusOf(ping(live.client, { seq: 11n, responseBytes: 1024 * 1024 + 1 }));
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.equal('response_bytes 1048577 is over the limit of 1048576 (--max-ping-response-bytes); send more probes for more volume');
    expect((await ping(live.client, { seq: 12n, responseBytes: 1024 * 1024 })).padding.length).to.equal(1024 * 1024);
  });

  it('every Classify, ClassifyStream, Ping and GetServerInfo answer names the replica (--server-id)', async () => {
    expect((await classify(live.client, { image: live.chelsea, topK: 1 })).serverId).to.equal('replica-a');
    expect((await ping(live.client, { seq: 1n })).serverId).to.equal('replica-a');
    expect((await serverInfo(live.client)).serverId).to.equal('replica-a');
    const [frame] = await rawClassifyStream(live.target, [Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: live.coffee, requestId: 's' })).finish())]);
    expect(frame.serverId).to.equal('replica-a');
  });

  it('GetServerInfo says what is serving', async () => {
    const info = await serverInfo(live.client);
    expect(info.engine!.backend).to.equal(live.server.served.engine.info.backend);
    expect(info.engine!.reason).to.not.equal('');
    // The CPU sharing plan as it runs, not only one session's threads.
    const e = live.server.served.engine.info;
    expect(info.engine).to.deep.include({ threads: e.threads, instances: e.instances ?? 1, soloThreads: e.soloThreads ?? 0, plan: e.plan ?? '' });
    expect(info.model).to.deep.include({ name: 'mobilenet_v1_0.25_224', inputHeight: 224, inputWidth: 224, inputChannels: 3, normalize: 'signed', numClasses: 1000 });
    expect(info.model!.weights).to.equal(WeightsProvenance.WEIGHTS_PROVENANCE_REAL);
    expect(info.batching!.maxBatch).to.be.at.least(1);
    expect(info.maxMessageBytes).to.equal(8 * 1024 * 1024);
    expect(info.versions).to.include.keys('server', 'node', 'grpc-js', 'sharp');
  });

  it('ClassifyStream: 20 frames → 20 responses in request order; a bad frame gets an error response and the stream goes on', async () => {
    const call = live.client.classifyStream();
    const got: ClassifyResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: ClassifyResponse) => got.push(r));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    for (let i = 0; i < 20; i++) {
      const image = i === 10 ? randomBytes(3000, i) : i % 2 ? live.coffee : live.chelsea;
      call.write(ClassifyRequest.fromPartial({ image, topK: 3, requestId: `frame-${i}` }));
    }
    call.end();
    await done;
    expect(got.map((r) => r.requestId)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `frame-${i}`));
    const bad = got[10];
    expect(bad.error).to.deep.include({ code: grpc.status.INVALID_ARGUMENT, codeName: 'INVALID_ARGUMENT' });
    expect(bad.error!.message).to.match(/unsupported image format/);
    expect(bad.predictions).to.have.length(0);
    for (const [i, r] of got.entries()) {
      if (i === 10) continue;
      expect(r.error, `frame ${i}`).to.equal(undefined);
      if (i % 2) expect(r.predictions[0].classIndex, `frame ${i}`).to.equal(ESPRESSO);
      else expect(r.predictions.some((p) => DOMESTIC_CATS.includes(p.classIndex)), `frame ${i}`).to.equal(true);
    }
  });

  it('ClassifyStream: a frame that is not a protobuf at all gets an error response; the stream goes on', async () => {
    const good = (id: string): Buffer => Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1, requestId: id })).finish());
    const got = await rawClassifyStream(live.target, [good('a'), Buffer.from([0x0a, 0x05, 0x01]), good('c')]);
    expect(got.map((r) => r.requestId)).to.deep.equal(['a', '', 'c']);
    expect(got[1].error!.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(got[1].error!.message).to.match(/not a valid inference\.v1\.ClassifyRequest/);
    expect(got[2].predictions[0].classIndex).to.equal(ESPRESSO);
  });

  it('ClassifyStream: a client that cancels frees its queued frames', async () => {
    const before = live.server.batcher.stats();
    const call = live.client.classifyStream();
    call.on('error', () => undefined); // CANCELLED, expected
    const first = new Promise<void>((resolve) => call.once('data', () => resolve()));
    for (let i = 0; i < 30; i++) call.write(ClassifyRequest.fromPartial({ image: live.coffee, requestId: `c${i}` }));
    await first;
    call.cancel();
    const t0 = Date.now();
    while (Date.now() - t0 < 5000) {
      const s = live.server.batcher.stats();
      if (s.queued === 0 && s.inFlightBatches === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300)); // frames still decoding when the cancel arrived
    const after = live.server.batcher.stats();
    expect(after.queued).to.equal(0);
    expect(after.batchedItems - before.batchedItems, 'not all 30 frames were computed').to.be.lessThan(30);
    expect((await ping(live.client, { seq: 5n })).seq).to.equal(5n);
  });

  it('reflection lists the inference and health services (grpc.reflection.v1)', async () => {
    const reflectionProto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
    const def = protoLoader.loadSync(fs.existsSync(reflectionProto) ? reflectionProto : findReflectionProto(), { keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (t: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }> } } } };
    };
    const rc = new pkg.grpc.reflection.v1.ServerReflection(live.target, grpc.credentials.createInsecure());
    const stream = rc.ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      stream.on('data', (r) => resolve((r.list_services_response?.service ?? []).map((s: { name: string }) => s.name)));
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    rc.close();
    expect(names).to.include.members(['inference.v1.InferenceService', 'grpc.health.v1.Health']);
  });
});

function findReflectionProto(): string {
  const root = path.dirname(require.resolve('@grpc/reflection/package.json'));
  const stack = [root];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (p.endsWith(path.join('v1', 'reflection.proto'))) return p;
    }
  }
  throw new Error('reflection.proto not found in @grpc/reflection');
}

function ms(ns: bigint): string {
  return (Number(ns) / 1e6).toFixed(2);
}

describe('server: GoogLeNet with synthetic weights', () => {
  it('classifies (any label) and flags the weights as synthetic everywhere', async function () {
    const chelseaPath = sharedFixture(this, 'images/chelsea.jpg');
    const server = await startServer({ drainDelayMs: 0, port: 0, logLevel: 'error' });
    const client = connect(`127.0.0.1:${server.port}`);
    try {
      const r = await classify(client, { image: fs.readFileSync(chelseaPath), topK: 3 });
      expect(r.predictions).to.have.length(3);
      expect(r.predictions[0].label).to.be.a('string').and.not.equal('');
      expect(r.model!.name).to.match(/googlenet/i);
      expect(r.model!.weights).to.equal(WeightsProvenance.WEIGHTS_PROVENANCE_SYNTHETIC);
      expect(r.model!.weightsSource).to.match(/^seed:/);
      const info = await serverInfo(client);
      expect(info.model!.weights).to.equal(WeightsProvenance.WEIGHTS_PROVENANCE_SYNTHETIC);
      expect(Number(info.model!.parameters)).to.be.within(5e6, 8e6);
    } finally {
      client.close();
      await server.shutdown(2000);
    }
  });
});

describe('server: shutdown', () => {
  it('turns health NOT_SERVING, runs queued work at once, finishes in-flight calls, then refuses new ones', async function () {
    const coffee = fs.readFileSync(sharedFixture(this, 'images/coffee.png'));
    // A long batching delay keeps the requests queued until shutdown starts: they must run, not be dropped.
    const server = await startServer({ drainDelayMs: 0, port: 0, model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'error', maxBatch: 8, maxQueueDelayUs: 5_000_000 });
    const target = `127.0.0.1:${server.port}`;
    const client = connect(target);
    const raw = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      const watch = raw.makeServerStreamRequest('/grpc.health.v1.Health/Watch', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0));
      const statuses: number[] = [];
      watch.on('data', (b: Buffer) => statuses.push(b[1] ?? 0));
      watch.on('error', () => undefined); // ends when the server stops
      const inflight = [0, 1, 2].map(() => classify(client, { image: coffee, topK: 1 }));
      const t0 = Date.now();
      while (server.batcher.stats().queued < 3 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 2));
      expect(server.batcher.stats().queued).to.equal(3);
      expect(statuses).to.deep.equal([1]); // SERVING
      const stopping = server.shutdown(1000);
      const results = await Promise.all(inflight);
      expect(results.map((r) => r.predictions[0].classIndex)).to.deep.equal([ESPRESSO, ESPRESSO, ESPRESSO]);
      expect(results.map((r) => r.timing!.batchSize)).to.deep.equal([3, 3, 3]);
      expect(Number(results[0].timing!.queueNanos) / 1e9, 'ran at shutdown, not after the 5 s delay').to.be.lessThan(4);
      await stopping;
      expect(statuses).to.deep.equal([1, 2]); // SERVING, then NOT_SERVING
      const err = await statusOf(ping(client, { seq: 2n }));
      expect(err.code).to.equal(grpc.status.UNAVAILABLE);
    } finally {
      raw.close();
      client.close();
      await server.shutdown();
    }
  });
});

describe('server: overload and deadlines', () => {
  // Items wait up to 1 s for a batch of 8, so the queue (bound 2) stays full while the burst arrives and decodes.
  // One client connection here, so its share of the queue is the whole queue.
  const live = mobilenetServer({ logLevel: 'error', maxQueue: 2, maxQueuePerConnection: 2, maxBatch: 8, maxQueueDelayUs: 1_000_000 });

  it('a burst beyond --max-queue gets fast RESOURCE_EXHAUSTED while admitted requests complete', async () => {
    const t0 = process.hrtime.bigint();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        classify(live.client, { image: live.coffee, topK: 1 }).then(
          (r) => ({ ok: r.predictions[0].classIndex, ms: Number(process.hrtime.bigint() - t0) / 1e6 }),
          (e: grpc.ServiceError) => ({ code: e.code, details: e.details, ms: Number(process.hrtime.bigint() - t0) / 1e6 }),
        ),
      ),
    );
    const ok = outcomes.filter((o) => 'ok' in o);
    const rejected = outcomes.filter((o) => 'code' in o) as Array<{ code: number; details: string; ms: number }>;
    expect(ok.map((o) => (o as { ok: number }).ok)).to.deep.equal([ESPRESSO, ESPRESSO]);
    expect(rejected).to.have.length(8);
    // The admitted pair waits 1 s for company; the rejected ones must not wait with it.
    const firstOk = Math.min(...ok.map((o) => o.ms));
    for (const r of rejected) {
      expect(r.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/queue is full \(2 waiting, --max-queue 2\)/);
      expect(r.ms, 'rejected without waiting for the batch').to.be.lessThan(firstOk);
    }
  });

  it('a request whose deadline passes while queued is dropped before inference and counted', async function () {
    // A server whose batches wait a minute, and a deadline of 2 s: decoding is long over when the deadline
    // passes, however busy the machine (a deadline that passes during decoding is not the batcher's to count).
    const slow = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'error', maxBatch: 8, maxQueueDelayUs: 60_000_000 });
    try {
      const body = Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1 })).finish());
      const code = await unaryWithServerDeadline(`127.0.0.1:${slow.port}`, '/inference.v1.InferenceService/Classify', body, '2S');
      expect(code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      const t0 = Date.now();
      while (slow.batcher.stats().deadlineDropped === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      expect(slow.batcher.stats()).to.include({ deadlineDropped: 1, cancelled: 0, admitted: 1, batchedItems: 0, queued: 0 });
    } finally {
      await slow.shutdown(2000);
    }
  });
});

describe('server: auth and metrics wiring (H5 modules)', () => {
  let dir: string;
  const live = mobilenetServer(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'server-auth-'));
    fs.writeFileSync(path.join(dir, 'tokens'), '# test token\ns3cret-token\n');
    return { host: '127.0.0.1', logLevel: 'error', tokensFile: path.join(dir, 'tokens'), metricsPort: 0, metricsHost: '127.0.0.1' };
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('requires a bearer token for inference calls but not for health; GetServerInfo says auth is on', async () => {
    const target = `127.0.0.1:${live.server.port}`;
    const anon = connect(target);
    const err = await statusOf(classify(anon, { image: live.coffee }));
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED);
    expect(await healthCheck(target)).to.equal('SERVING');
    anon.close();
    const authed = connect(target, {});
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer s3cret-token');
    const r = await new Promise<ClassifyResponse>((resolve, reject) =>
      authed.classify(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1 }), md, (e, res) => (e ? reject(e) : resolve(res))),
    );
    expect(r.predictions[0].classIndex).to.equal(ESPRESSO);
    const info = await new Promise<{ authRequired: boolean }>((resolve, reject) => authed.getServerInfo({}, md, (e, res) => (e ? reject(e) : resolve(res))));
    expect(info.authRequired).to.equal(true);
    authed.close();
  });

  it('exports Prometheus metrics for the calls it served (stage timings, batch sizes, codes)', async () => {
    expect(live.server.metricsPort).to.be.a('number');
    const text = await scrapeMetrics(live.server.metricsPort!);
    expect(text).to.match(/grpc_server_handled_total\{[^}]*grpc_method="Classify"[^}]*grpc_code="OK"[^}]*\} 1\b/);
    expect(text).to.match(/grpc_server_handled_total\{[^}]*grpc_method="Classify"[^}]*grpc_code="UNAUTHENTICATED"[^}]*\} 1\b/);
    expect(text).to.match(/inference_batch_size_count 1\b/);
    expect(text).to.match(/inference_decode_seconds_count 1\b/);
    expect(text).to.match(/inference_model_info\{[^}]*model="mobilenet_v1_0.25_224"[^}]*weights="real"[^}]*\} 1/);
  });
});
