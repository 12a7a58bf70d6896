import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { InferenceService } from '../src/gen/inference/v1/inference_pb';
import { InferenceServiceClient } from '../src/gen/inference/v1/inference';
import { startServer, type RunningServer } from '../src/server/app';
import { createWebIngress, requestReservation } from '../src/server/web-ingress';
import { KEEP_ALIVE_TIMEOUT_MS } from '../src/server/web';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

const MIB = 1024 * 1024;
const bearer: Interceptor = (next) => (req) => {
  req.header.set('authorization', `Bearer ${TOKEN}`);
  return next(req);
};
const TOKEN = 'web-ingress-token';
const AUTH = `authorization: Bearer ${TOKEN}\r\n`;

/** Polls `probe` until it returns true (the server's bookkeeping follows a socket close asynchronously). */
async function eventually(probe: () => Promise<boolean>, what: string, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * An upload that declares `declared` bytes and sends only a few: what a client stalled mid-request (or a
 * hostile one) leaves the server holding. Resolves once the server has the headers.
 */
function stalledUpload(port: number, declared: number, auth = AUTH): Promise<{ socket: net.Socket; answer: () => string }> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST /inference.v1.InferenceService/Ping HTTP/1.1\r\nhost: 127.0.0.1\r\n${auth}content-type: application/proto\r\ncontent-length: ${declared}\r\n\r\n\x0a\x00`);
      setTimeout(() => resolve({ socket: s, answer: () => answer }), 100);
    });
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    s.on('error', reject);
  });
}

function connectJson(port: number, body: string, declared?: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    if (declared !== undefined) headers['content-length'] = declared;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/inference.v1.InferenceService/Ping', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('web port: request bytes come out of --max-pending-bytes, shared with the gRPC port', function () {
  let server: RunningServer;
  let web: number;
  const savedTokens = process.env.INFER_TOKENS;

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    process.env.INFER_TOKENS = TOKEN;
    server = await startServer({
      port: 0, host: '127.0.0.1', webPort: 0, model, normalize: 'signed', backend: 'cpu',
      maxMessageBytes: 1 * MIB, maxPendingBytes: 2 * MIB, logLevel: 'error', drainDelayMs: 0,
    });
    web = server.webPort!;
  });
  after(async () => {
    if (savedTokens === undefined) delete process.env.INFER_TOKENS;
    else process.env.INFER_TOKENS = savedTokens;
    await server?.shutdown(0);
  });

  it('reserves what a request declares, or the most it can be when it declares nothing', () => {
    const max = 1 * MIB;
    expect(requestReservation('GET', {}, max)).to.equal(0);
    expect(requestReservation('POST', { 'content-length': '1200', 'content-type': 'application/json' }, max)).to.equal(1200);
    expect(requestReservation('POST', { 'content-type': 'application/grpc-web+proto' }, max)).to.equal(max + 64);
    expect(requestReservation('POST', { 'content-type': 'application/grpc-web-text' }, max)).to.equal(Math.ceil(((max + 64) * 4) / 3));
    expect(requestReservation('POST', { 'content-length': String(50 * MIB) }, max)).to.equal(max + 64);
    expect(requestReservation('POST', { 'content-length': '-5' }, max)).to.equal(max + 64);
  });

  it('refuses, before reading them, requests the budget cannot hold, in each protocol’s terms; both ports see one budget', async () => {
    // Two stalled uploads declaring 1 MB each hold 2 000 000 of the 2 MiB (2 097 152) budget.
    const held = [await stalledUpload(web, 1_000_000), await stalledUpload(web, 1_000_000)];
    try {
      const connect = await connectJson(web, JSON.stringify({ payload: Buffer.alloc(150_000).toString('base64') }));
      expect(connect.status).to.equal(429);
      const err = JSON.parse(connect.body) as { code: string; message: string };
      expect(err.code).to.equal('resource_exhausted');
      expect(err.message).to.match(/^server busy: [\d.]+ MiB of requests received and not yet processed \(--max-pending-bytes 2\.0 MiB\); retry later$/);

      const grpcWeb = createClient(InferenceService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${web}`, httpVersion: '1.1', interceptors: [bearer] }));
      const webErr = await grpcWeb.ping({ payload: new Uint8Array(200_000) }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(webErr?.code).to.equal(Code.ResourceExhausted);
      expect(webErr?.rawMessage).to.match(/^server busy: .*--max-pending-bytes 2\.0 MiB/);

      // A small request still fits beside them.
      expect((await connectJson(web, '{}')).status).to.equal(200);

      // The gRPC port counts against the same budget: 200 kB more does not fit.
      const client = new InferenceServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
      try {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${TOKEN}`);
        const grpcErr = await new Promise<grpc.ServiceError | undefined>((resolve) => client.ping({ seq: 1n, payload: Buffer.alloc(200_000), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n }, md, (e) => resolve(e ?? undefined)));
        expect(grpcErr?.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      } finally {
        client.close();
      }
    } finally {
      for (const h of held) h.socket.destroy();
    }
    // Gone clients give their reservations back.
    await eventually(async () => (await connectJson(web, JSON.stringify({ payload: Buffer.alloc(150_000).toString('base64') }))).status === 200, 'a 200 kB Ping accepted after the stalled uploads went away');
  });

  it('gives a reservation back once the handler has the message: calls one after another never run the budget dry', async () => {
    const client = createClient(InferenceService, createConnectTransport({ baseUrl: `http://127.0.0.1:${web}`, httpVersion: '1.1', useBinaryFormat: true, interceptors: [bearer] }));
    // Each declares ~0.9 MB; two held at once would not fit beside a third in 2 MiB.
    for (let i = 0; i < 8; i++) {
      const res = await client.ping({ seq: BigInt(i), payload: new Uint8Array(900_000) });
      expect(res.seq).to.equal(BigInt(i));
    }
  });

  it('refuses a call without a valid token at the door, before it reserves anything: tokenless uploads cannot hold the budget', async () => {
    const tokenless = [await stalledUpload(web, 1_000_000, ''), await stalledUpload(web, 1_000_000, 'authorization: Bearer nope\r\n'), await stalledUpload(web, 1_000_000, '')];
    try {
      for (const t of tokenless) expect(t.answer()).to.match(/^HTTP\/1\.1 401 /);
      expect(tokenless[0].answer()).to.contain('"code":"unauthenticated"');
      expect(tokenless[1].answer()).to.contain('invalid token');
      // Had the three tokenless megabytes been reserved, 0.8 MB more would not fit in the 2 MiB budget.
      expect((await connectJson(web, JSON.stringify({ payload: Buffer.alloc(600_000).toString('base64') }))).status).to.equal(200);
    } finally {
      for (const t of tokenless) t.socket.destroy();
    }
  });
});

describe('web port ingress over HTTP/2: a body that does not arrive in time', () => {
  it('resets the stream at the request timeout and returns its reservation', async () => {
    let pending = 0;
    const budget = { reserve: (n: number) => ((pending += n), true), release: (n: number) => void (pending -= n), busyMessage: () => 'busy' };
    const ingress = createWebIngress(budget, { maxMessageBytes: MIB, requestTimeoutMs: 200 });
    // A handler that admits and then never reads the body, as connect-node does while it waits for the rest.
    const h2 = http2.createServer((req, res) => void ingress.admit(req, res));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const session = http2.connect(`http://127.0.0.1:${(h2.address() as net.AddressInfo).port}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/inference.v1.InferenceService/Ping', 'content-type': 'application/proto', 'content-length': '500000' });
      stream.on('error', () => undefined);
      stream.write(Buffer.alloc(1000));
      await eventually(async () => pending === 500_000, 'the stream reserved its declared 500 000 bytes');
      const rst = await new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode ?? -1)));
      expect(rst).to.equal(http2.constants.NGHTTP2_CANCEL);
      expect(pending).to.equal(0);
    } finally {
      session.destroy();
      await new Promise((r) => h2.close(r));
    }
  });
});

describe('web port over HTTPS: HTTP/2 sessions take the gRPC port’s idle and age limits, HTTP/1.1 the plaintext port’s', function () {
  let certs: DevCerts;
  let server: RunningServer;

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    certs = makeDevCerts();
    server = await startServer({
      port: 0, host: '127.0.0.1', webPort: 0, tlsCert: certs.serverCert, tlsKey: certs.serverKey, model, normalize: 'signed', backend: 'cpu',
      maxConnectionIdleMs: 300, maxConnectionAgeMs: 1500, maxConnectionAgeGraceMs: 200, logLevel: 'error', drainDelayMs: 0,
    });
  });
  after(async () => {
    await server?.shutdown(0);
    certs?.remove();
  });

  function session(): { s: http2.ClientHttp2Session; goaway: Promise<void>; info: () => Promise<number> } {
    const s = http2.connect(`https://localhost:${server.webPort}`, { ca: fs.readFileSync(certs.ca) });
    s.on('error', () => undefined);
    const goaway = new Promise<void>((resolve) => {
      s.once('goaway', () => resolve());
      s.once('close', () => resolve());
    });
    const info = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const st = s.request({ ':method': 'POST', ':path': '/inference.v1.InferenceService/GetServerInfo', 'content-type': 'application/json' });
        let status = 0;
        st.on('response', (h) => (status = Number(h[':status'])));
        st.on('error', reject);
        st.resume();
        st.on('end', () => resolve(status));
        st.end('{}');
      });
    return { s, goaway, info };
  }

  it('asks a session with no call open to go away after --max-connection-idle-ms', async () => {
    const { s, goaway, info } = session();
    try {
      expect(await info()).to.equal(200);
      const gone = await Promise.race([goaway.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      expect(gone, 'GOAWAY within 10 s of a 300 ms idle limit').to.equal(true);
    } finally {
      s.destroy();
    }
  });

  it('asks a busy session to go away at --max-connection-age-ms', async () => {
    const { s, goaway, info } = session();
    let gone = false;
    void goaway.then(() => (gone = true));
    try {
      // A call every 100 ms: never idle for 300 ms, so only the age limit can end the session.
      const start = Date.now();
      while (!gone && Date.now() - start < 10_000) {
        // A call that meets the GOAWAY may be refused; one before it must succeed.
        const status = await info().catch((e: unknown) => (gone ? 200 : Promise.reject(e)));
        expect(status).to.equal(200);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(gone, 'GOAWAY within 10 s of a 1.5 s age limit').to.equal(true);
    } finally {
      s.destroy();
    }
  });

  it('closes an HTTP/1.1 connection left idle after a request (keep-alive timeout)', async () => {
    const agent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(certs.ca) });
    try {
      const limit = KEEP_ALIVE_TIMEOUT_MS + 10_000;
      const closed = await new Promise<number>((resolve, reject) => {
        setTimeout(() => resolve(Infinity), limit).unref();
        const req = https.request({ host: 'localhost', port: server.webPort, method: 'POST', path: '/inference.v1.InferenceService/GetServerInfo', headers: { 'content-type': 'application/json' }, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            const t0 = Date.now();
            req.socket?.once('close', () => resolve(Date.now() - t0));
          });
        });
        req.on('error', reject);
        req.end('{}');
      });
      expect(closed, 'the server closed the idle connection').to.be.below(limit);
    } finally {
      agent.destroy();
    }
  });
});
