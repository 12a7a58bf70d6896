/**
 * grpc.health.v1 served by our own implementation (src/server/health.ts): the standard protocol's answers,
 * no state for names other than the two we serve, long names refused, Watch streams bounded and ended at
 * shutdown. Health needs no token, so this is what anyone on the network can reach.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { createHealth, INFERENCE_SERVICE_NAME, MAX_SERVICE_NAME_BYTES, MAX_WATCH_STREAMS, type Health } from '../src/server/health';
import { healthCheck } from './helpers/grpc-client';
import { MiB, retainedBytes } from './helpers/heap';

function request(service: string | Buffer): Buffer {
  const name = Buffer.isBuffer(service) ? service : Buffer.from(service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  const len: number[] = [];
  for (let n = name.length; ; n >>>= 7) {
    if (n < 0x80) {
      len.push(n);
      break;
    }
    len.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...len]), name]);
}

interface WatchCall {
  updates: number[];
  status: Promise<grpc.StatusObject>;
  firstUpdate: Promise<void>;
  cancel(): void;
}

describe('health: our grpc.health.v1 (no state per name, bounded Watch streams)', () => {
  let server: grpc.Server;
  let health: Health;
  let client: grpc.Client;
  let target: string;

  beforeEach(async () => {
    server = new grpc.Server();
    health = createHealth();
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    target = `127.0.0.1:${port}`;
    client = new grpc.Client(target, grpc.credentials.createInsecure());
  });
  afterEach(() => {
    client.close();
    server.forceShutdown();
  });

  const check = (service: string | Buffer): Promise<{ status?: number; error?: grpc.ServiceError }> =>
    new Promise((resolve) =>
      client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, request(service), (err, res) =>
        resolve(err ? { error: err } : { status: (res as Buffer).length >= 2 ? (res as Buffer)[1] : 0 }),
      ),
    );

  const watch = (service: string | Buffer): WatchCall => {
    const call = client.makeServerStreamRequest('/grpc.health.v1.Health/Watch', (b: Buffer) => b, (b: Buffer) => b, request(service));
    const updates: number[] = [];
    let first: () => void = () => undefined;
    const firstUpdate = new Promise<void>((r) => (first = r));
    call.on('data', (b: Buffer) => {
      updates.push(b.length >= 2 ? b[1] : 0);
      first();
    });
    call.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
    return { updates, status, firstUpdate, cancel: () => call.cancel() };
  };

  it('Check: "" and the inference service follow setServing; an unknown name is NOT_FOUND', async () => {
    expect(await healthCheck(target)).to.equal('NOT_SERVING');
    health.setServing(true);
    expect(await healthCheck(target)).to.equal('SERVING');
    expect(await healthCheck(target, INFERENCE_SERVICE_NAME)).to.equal('SERVING');
    expect(health.isServing()).to.equal(true);
    const unknown = await check('no.such.Service');
    expect(unknown.error?.code).to.equal(grpc.status.NOT_FOUND);
    expect(unknown.error?.details).to.equal('unknown service "no.such.Service"');
  });

  it('a name over the limit is INVALID_ARGUMENT, for Check and Watch', async () => {
    const long = Buffer.alloc(MAX_SERVICE_NAME_BYTES + 1, 0x61);
    const c = await check(long);
    expect(c.error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(c.error?.details).to.equal(`service name is ${MAX_SERVICE_NAME_BYTES + 1} bytes, over the limit of ${MAX_SERVICE_NAME_BYTES}`);
    const w = watch(long);
    expect((await w.status).code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect((await check(Buffer.alloc(MAX_SERVICE_NAME_BYTES, 0x61))).error?.code, 'at the limit: answered').to.equal(grpc.status.NOT_FOUND);
  });

  it('Watch sends the status and every change; an unknown name gets SERVICE_UNKNOWN', async () => {
    const w = watch(INFERENCE_SERVICE_NAME);
    const u = watch('no.such.Service');
    await Promise.all([w.firstUpdate, u.firstUpdate]);
    health.setServing(true);
    health.setServing(true); // no change: no update
    health.setServing(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(w.updates).to.deep.equal([2, 1, 2]);
    expect(u.updates).to.deep.equal([3]);
    w.cancel();
    u.cancel();
  });

  it(`at most ${MAX_WATCH_STREAMS} Watch streams; close() ends them all with OK after NOT_SERVING`, async () => {
    health.setServing(true);
    const open = Array.from({ length: MAX_WATCH_STREAMS }, () => watch(''));
    await Promise.all(open.map((w) => w.firstUpdate));
    expect(health.watchers()).to.equal(MAX_WATCH_STREAMS);
    const extra = watch('');
    const refused = await extra.status;
    expect(refused.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.details).to.equal(`too many health Watch streams (${MAX_WATCH_STREAMS}); poll Check instead`);
    health.close();
    const ends = await Promise.all(open.map((w) => w.status));
    expect(ends.every((s) => s.code === grpc.status.OK)).to.equal(true);
    expect(open.every((w) => w.updates.join() === '1,2')).to.equal(true);
    expect(health.watchers()).to.equal(0);
  });

  it('200 cancelled Watch calls with 256 KiB names leave no memory behind (grpc-health-check 2.1.0 kept +51 MiB)', async () => {
    // Every name distinct: grpc-health-check kept one map key per distinct name.
    const name = (i: number): Buffer => {
      const b = Buffer.alloc(256 * 1024, 0x61);
      b.write(`name-${i}-`);
      return b;
    };
    const round = (from: number, n: number): Promise<grpc.StatusObject[]> => Promise.all(Array.from({ length: n }, (_, i) => watch(name(from + i)).status));
    await round(0, 20); // warm-up: the client, the server and this test's code paths allocate once
    const before = await retainedBytes();
    for (let r = 0; r < 4; r++) {
      const statuses = await round(1000 + r * 50, 50);
      expect(statuses.every((s) => s.code === grpc.status.INVALID_ARGUMENT)).to.equal(true);
    }
    // Short unknown names too: each stream holds only itself, and nothing once it is gone.
    const unknown = Array.from({ length: 50 }, (_, i) => watch(`unknown.Service${i}`));
    await Promise.all(unknown.map((c) => c.firstUpdate));
    unknown.forEach((c) => c.cancel());
    await Promise.all(unknown.map((c) => c.status));
    await new Promise((r) => setTimeout(r, 50));
    const grown = (await retainedBytes()) - before;
    console.log(`      (retained after 200 Watch calls with 256 KiB names: ${(grown / MiB).toFixed(1)} MiB)`);
    expect(grown).to.be.lessThan(16 * MiB);
    expect(health.watchers()).to.equal(0);
  });
});
