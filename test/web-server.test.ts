import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { InferenceService } from '../src/gen/inference/v1/inference_pb';
import { startServer, type RunningServer } from '../src/server/app';
import { parseServerArgs } from '../src/server/options';
import { checkOrigins } from '../src/server/web';
import { CONTENT_SECURITY_POLICY } from '../src/server/web-page';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { scrapeMetrics } from './helpers/grpc-client';

const run = promisify(execFile);
const TOKEN = 'web-test-token';
const ALLOWED = 'https://app.example.test:8443';

/** One plain HTTP request; the body as text. */
function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

function withToken(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
}
const bearer = { authorization: `Bearer ${TOKEN}` };

describe('web port (--web-port): gRPC-web and Connect over the gRPC port’s handlers', function () {
  let server: RunningServer;
  let web: number;
  let cat: Buffer;
  const savedTokens = process.env.INFER_TOKENS;

  before(async function () {
    cat = fs.readFileSync(sharedFixture(this, 'images/chelsea.jpg'));
    process.env.INFER_TOKENS = TOKEN;
    // max-batch 2 with a long delay: a batch runs only when two images are queued, so a call from each port
    // can only finish together, in one batch, if both ports feed the same batcher.
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      webPort: 0,
      webOrigins: [ALLOWED],
      metricsPort: 0,
      model: sharedFixture(this, MOBILENET_JSON),
      normalize: 'signed',
      maxBatch: 2,
      maxQueueDelayUs: 60_000_000,
      maxMessageBytes: 1024 * 1024,
      logLevel: 'error', drainDelayMs: 0,
    });
    web = server.webPort!;
  });
  after(async () => {
    if (savedTokens === undefined) delete process.env.INFER_TOKENS;
    else process.env.INFER_TOKENS = savedTokens;
    await server?.shutdown(0);
  });

  it('answers curl with Connect JSON: Ping and GetServerInfo', async function () {
    const hasCurl = await run('curl', ['--version']).then(() => true, () => false);
    if (!hasCurl) {
      if (process.env.CI === 'true') throw new Error('curl not found; CI must have it (.ci/run installs it)');
      console.log('      skipped: curl not found (Debian package curl)');
      this.skip();
    }
    const ping = await run('curl', ['-sS', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${TOKEN}`, '-d', '{"seq":"7"}', `http://127.0.0.1:${web}/inference.v1.InferenceService/Ping`]);
    const p = JSON.parse(ping.stdout) as { seq: string; serverReceiveUnixNanos: string };
    expect(p.seq).to.equal('7');
    expect(BigInt(p.serverReceiveUnixNanos) > 0n).to.equal(true);
    const info = await run('curl', ['-sS', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${TOKEN}`, '-d', '{}', `http://127.0.0.1:${web}/inference.v1.InferenceService/GetServerInfo`]);
    // Call metadata travels as headers: the Ping session header reaches the handler (per-session counters).
    const session = 'web-test-session-0001';
    for (const seq of ['3', '5']) {
      await run('curl', ['-sS', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${TOKEN}`, '-H', `rtinfer-session: ${session}`, '-d', `{"seq":"${seq}"}`, `http://127.0.0.1:${web}/inference.v1.InferenceService/Ping`]);
    }
    const third = await run('curl', ['-sS', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${TOKEN}`, '-H', `rtinfer-session: ${session}`, '-d', '{"seq":"4"}', `http://127.0.0.1:${web}/inference.v1.InferenceService/Ping`]);
    expect(JSON.parse(third.stdout)).to.include({ sessionPingsReceived: '3', sessionHighestSeq: '5' });
    const i = JSON.parse(info.stdout) as { model: { name: string; inputWidth: number }; authRequired: boolean };
    expect(i.model.name).to.equal('mobilenet_v1_0.25_224');
    expect(i.model.inputWidth).to.equal(224);
    expect(i.authRequired).to.equal(true);
  });

  it('runs one batch from a gRPC call and a gRPC-web call together: one batcher behind both ports', async () => {
    const auth = [withToken(TOKEN)];
    const grpcClient = createClient(InferenceService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}`, interceptors: auth }));
    const webClient = createClient(InferenceService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${web}`, httpVersion: '1.1', interceptors: auth }));
    {
      const before = server.batcher.stats();
      const viaGrpc = grpcClient.classify({ image: cat, topK: 3 });
      // Wait until the gRPC call's image is queued, alone, waiting for a second one.
      const t0 = Date.now();
      while (server.batcher.stats().queued < 1 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
      const viaWeb = webClient.classify({ image: cat, topK: 3 });
      const [a, b] = await Promise.all([viaGrpc, viaWeb]);
      expect(a.timing!.batchSize).to.equal(2);
      expect(b.timing!.batchSize).to.equal(2);
      expect(b.predictions.map((p) => p.label)).to.deep.equal(a.predictions.map((p) => p.label));
      expect(b.predictions[0].label).to.match(/cat|tabby|lynx/);
      expect(b.serverId).to.equal(a.serverId);
      const after = server.batcher.stats();
      expect(after.batches - before.batches).to.equal(1);
      expect(after.batchedItems - before.batchedItems).to.equal(2);
      // The same metrics count the web call, under the same names as a gRPC call.
      const text = await scrapeMetrics(server.metricsPort!);
      expect(text).to.match(/grpc_server_handled_total\{[^}]*grpc_method="Classify"[^}]*grpc_code="OK"[^}]*\} 2/);
    }
  });

  it("carries the caller's deadline to the server: a frame whose deadline passes in the queue is dropped there", async () => {
    const webClient = createClient(InferenceService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${web}`, httpVersion: '1.1', interceptors: [withToken(TOKEN)] }));
    const before = server.batcher.stats();
    // Alone in the queue of a max-batch-2 server with a 60 s batching delay: only its deadline can end it.
    const err = await webClient.classify({ image: cat, topK: 1 }, { timeoutMs: 300 }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).to.equal(Code.DeadlineExceeded);
    const t0 = Date.now();
    while (server.batcher.stats().queued > 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
    const after = server.batcher.stats();
    expect(after.queued, 'the image left the queue').to.equal(0);
    expect(after.deadlineDropped + after.cancelled - before.deadlineDropped - before.cancelled).to.equal(1);
    expect(after.batches).to.equal(before.batches);
  });

  it('refuses a call without a valid token (UNAUTHENTICATED, counted), the same as the gRPC port', async () => {
    const none = await request(web, 'POST', '/inference.v1.InferenceService/Ping', json, '{}');
    expect(none.status).to.equal(401);
    expect(JSON.parse(none.body)).to.deep.equal({ code: 'unauthenticated', message: "missing authorization metadata: send 'authorization: Bearer <token>'" });
    const wrong = createClient(InferenceService, createConnectTransport({ baseUrl: `http://127.0.0.1:${web}`, httpVersion: '1.1', interceptors: [withToken('nope')] }));
    const err = await wrong.getServerInfo({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).to.equal(Code.Unauthenticated);
    expect(err?.rawMessage).to.equal('invalid token');
    const text = await scrapeMetrics(server.metricsPort!);
    expect(text).to.match(/grpc_server_handled_total\{[^}]*grpc_method="Ping"[^}]*grpc_code="UNAUTHENTICATED"[^}]*\} [1-9]/);
  });

  it('gives hostile input a clear error and carries on', async () => {
    const bad = await request(web, 'POST', '/inference.v1.InferenceService/Ping', { ...json, ...bearer }, '{"seq":');
    expect(bad.status).to.equal(400);
    expect((JSON.parse(bad.body) as { code: string }).code).to.equal('invalid_argument');
    const notImage = await request(web, 'POST', '/inference.v1.InferenceService/Classify', { ...json, ...bearer }, '{"image":"aGk="}');
    expect(JSON.parse(notImage.body)).to.include({ code: 'invalid_argument' });
    // Over --max-message-bytes (1 MiB here): refused before it is parsed.
    const big = await request(web, 'POST', '/inference.v1.InferenceService/Classify', { ...json, ...bearer }, JSON.stringify({ image: Buffer.alloc(2 * 1024 * 1024).toString('base64') }));
    expect((JSON.parse(big.body) as { code: string }).code).to.equal('resource_exhausted');
    // A compression bomb (20 kB of gzip inflating to 20 MiB): compressed requests are refused outright, as on
    // the gRPC port, so nothing is inflated.
    const bomb = zlib.gzipSync(Buffer.from(`{"payload":"${'A'.repeat(20 * 1024 * 1024)}"}`));
    const inflated = await request(web, 'POST', '/inference.v1.InferenceService/Ping', { ...json, ...bearer, 'content-encoding': 'gzip' }, bomb);
    expect(JSON.parse(inflated.body)).to.include({ code: 'unimplemented' });
    const stream = await request(web, 'POST', '/inference.v1.InferenceService/ClassifyStream', { ...json, ...bearer }, '{}');
    expect(stream.status, 'ClassifyStream stays on the gRPC port').to.not.equal(200);
    const unknown = await request(web, 'POST', '/inference.v1.InferenceService/Nope', { ...json, ...bearer }, '{}');
    expect(unknown.status).to.equal(404);
    const ok = await request(web, 'POST', '/inference.v1.InferenceService/Ping', { ...json, ...bearer }, '{"seq":"1"}');
    expect(ok.status).to.equal(200);
  });

  it('serves the page with a strict Content-Security-Policy and nothing else from disk', async () => {
    const page = await request(web, 'GET', '/');
    expect(page.headers['content-security-policy']).to.equal(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).to.include("script-src 'self'").and.not.include('unsafe');
    expect(page.status, 'npm run build writes dist/web').to.equal(200);
    expect(page.body).to.include('id="top1-label"');
    expect(page.body, 'no inline script').to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    const js = await request(web, 'GET', '/app.js');
    expect(js.status).to.equal(200);
    expect(js.headers['content-type']).to.match(/^text\/javascript/);
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/dist/web/app.js', '/index.html/..', '/app.js.map']) {
      expect((await request(web, 'GET', p)).status, p).to.equal(404);
    }
  });

  it('allows cross-origin calls only from --web-origins, matched exactly', async () => {
    const preflight = (origin: string) =>
      request(web, 'OPTIONS', '/inference.v1.InferenceService/Ping', { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization,x-grpc-web' });
    const ok = await preflight(ALLOWED);
    expect(ok.status).to.equal(204);
    expect(ok.headers['access-control-allow-origin']).to.equal(ALLOWED);
    expect(String(ok.headers['access-control-allow-headers'])).to.match(/Authorization/i).and.match(/X-Grpc-Web/i);
    for (const other of ['https://app.example.test', 'http://app.example.test:8443', 'https://app.example.test:8443.evil.test', 'null']) {
      const r = await preflight(other);
      expect(r.status, other).to.equal(403);
      expect(r.headers['access-control-allow-origin'], other).to.equal(undefined);
    }
    const call = await request(web, 'POST', '/inference.v1.InferenceService/Ping', { ...json, ...bearer, origin: ALLOWED }, '{}');
    expect(call.headers['access-control-allow-origin']).to.equal(ALLOWED);
    expect(String(call.headers['access-control-expose-headers'])).to.match(/Grpc-Status/i);
    const foreign = await request(web, 'POST', '/inference.v1.InferenceService/Ping', { ...json, ...bearer, origin: 'https://evil.test' }, '{}');
    expect(foreign.headers['access-control-allow-origin']).to.equal(undefined);
  });
});

describe('web port over TLS (the gRPC port’s --tls-* files)', function () {
  let certs: DevCerts;
  let server: RunningServer;

  before(async function () {
    certs = makeDevCerts();
    server = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, tlsCert: certs.serverCert, tlsKey: certs.serverKey, logLevel: 'error', drainDelayMs: 0, backend: 'cpu', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed' });
  });
  after(async () => {
    await server?.shutdown(0);
    certs?.remove();
  });

  it('serves Connect over HTTPS with HTTP/2 and HTTP/1.1, and refuses plaintext', async () => {
    const ca = fs.readFileSync(certs.ca);
    for (const httpVersion of ['2', '1.1'] as const) {
      const client = createClient(InferenceService, createConnectTransport({ baseUrl: `https://localhost:${server.webPort}`, httpVersion, nodeOptions: { ca } }));
      const info = await client.getServerInfo({});
      expect(info.tls, `HTTP/${httpVersion}`).to.equal(true);
    }
    const plain = await request(server.webPort!, 'POST', '/inference.v1.InferenceService/Ping', json, '{}').then(() => 'answered', (e: Error) => e.message);
    expect(plain).to.not.equal('answered');
  });

  it('applies --tls-allowed-client to the web port as to the gRPC port (mutual TLS, pinned identities)', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const pinned = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: certs.ca, tlsAllowedClient: ['someone else'], logLevel: 'error', drainDelayMs: 0, backend: 'cpu', model, normalize: 'signed' });
    const open = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: certs.ca, tlsAllowedClient: ['realtime-inference dev client'], logLevel: 'error', drainDelayMs: 0, backend: 'cpu', model, normalize: 'signed' });
    try {
      const nodeOptions = { ca: fs.readFileSync(certs.ca), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) };
      const refused = createClient(InferenceService, createConnectTransport({ baseUrl: `https://localhost:${pinned.webPort}`, httpVersion: '2', nodeOptions }));
      const err = await refused.ping({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).to.equal(Code.PermissionDenied);
      expect(err?.rawMessage).to.equal('client certificate "realtime-inference dev client" is not allowed (--tls-allowed-client)');
      const admitted = createClient(InferenceService, createConnectTransport({ baseUrl: `https://localhost:${open.webPort}`, httpVersion: '2', nodeOptions }));
      expect((await admitted.getServerInfo({})).tls).to.equal(true);
    } finally {
      await pinned.shutdown(0);
      await open.shutdown(0);
    }
  });
});

describe('web port options', () => {
  it('takes --web-port and --web-origins; off by default', () => {
    expect(parseServerArgs([]).webPort).to.equal(undefined);
    const o = parseServerArgs(['--web-port', '8080', '--web-origins', 'https://a.example', 'http://[::1]:3000']);
    expect(o.webPort).to.equal(8080);
    expect(o.webOrigins).to.deep.equal(['https://a.example', 'http://[::1]:3000']);
  });

  it('refuses origins that are not exact', () => {
    for (const bad of ['*', 'https://a.example/', 'a.example', 'https://*.example', 'ftp://a.example', 'https://a.example/path']) {
      expect(() => checkOrigins([bad]), bad).to.throw(/not an exact origin/);
    }
    expect(checkOrigins(['https://a.example:8443'])).to.deep.equal(['https://a.example:8443']);
  });
});
