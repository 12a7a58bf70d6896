/**
 * `rtinfer ping` over its default transport, our own HTTP/2 client (src/client/h2/), as a user runs
 * it: the CLI's main() against the real server (plaintext, IPv6, TLS, bearer tokens, 4 MB messages, a
 * restart mid-run), and against peers that are not that server (a slow one, a plain HTTP/2 web server, an
 * HTTP/1.1 server, a closed port), checking what the user would read: probe lines, statuses, messages,
 * exit codes.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import hpack from 'hpack.js';
import { main } from '../src/client/cli';
import { h2Transport } from '../src/client/h2';
import { RequestHeaderEncoder, ResponseHeaderDecoder } from '../src/client/h2/hpack';
import { nodeHttp2Transport } from '../src/client/h2/node-http2';
import type { UnaryOutcome, UnaryTransport } from '../src/client/unary-transport';
import { startServer, type RunningServer } from '../src/server/app';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

interface Run {
  code: number;
  out: string[];
  err: string[];
  json: {
    summary: { sent: number; received: number; lost: number; status_counts: Record<string, number> };
    probes: Array<{ seq: number; status: string; message?: string; rtt_ns?: number; bytes_down?: number; bytes_up: number }>;
    errors: Array<{ message: string; count: number }>;
    settings: Record<string, unknown>;
  } | undefined;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtinfer-h2-'));
let runs = 0;

async function ping(args: string[], onLine?: (l: string) => void): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const json = path.join(dir, `run-${++runs}.json`);
  const code = await main(['ping', ...args, '--json', json], { out: (l) => (out.push(l), onLine?.(l)), err: (l) => err.push(l) });
  return { code, out, err, json: fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined };
}

const okLines = (r: Run): string[] => r.out.filter((l) => /seq=\d+ .*rtt=/.test(l));

function ipv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
}

describe('h2 transport: header blocks (HPACK)', () => {
  it('a block from our encoder reads back field by field with hpack.js, token never indexed', () => {
    const enc = new RequestHeaderEncoder({ https: true, authority: 'example.org:8443', userAgent: 'rtinfer/test', metadata: [['authorization', 'Bearer s3cret'], ['x-extra', 'v']] });
    const long = '/a.B/' + 'x'.repeat(300); // a length over the 7-bit prefix exercises multi-byte integers
    const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
    d.write(enc.block(long, '1000m'));
    d.execute();
    const got: Array<[string, string, boolean]> = [];
    for (let h = d.read(); h; h = d.read()) got.push([h.name, h.value, h.neverIndex]);
    expect(got).to.deep.equal([
      [':method', 'POST', false], [':scheme', 'https', false], [':path', long, false], [':authority', 'example.org:8443', false],
      ['content-type', 'application/grpc', false], ['te', 'trailers', false], ['user-agent', 'rtinfer/test', false],
      ['authorization', 'Bearer s3cret', true], ['x-extra', 'v', false], ['grpc-timeout', '1000m', false],
    ]);
  });

  it('a call with the grpc-timeout of the one before reuses its block; another timeout gets its own, the old one unchanged', () => {
    const enc = new RequestHeaderEncoder({ https: false, authority: 'h:1', userAgent: 'u', metadata: [] });
    const a = enc.block('/p', '1000m');
    const copy = Buffer.from(a);
    expect(enc.block('/p', '1000m')).to.equal(a);
    const b = enc.block('/p', '999m');
    expect(b.equals(a)).to.equal(false);
    expect(a.equals(copy)).to.equal(true);
    expect(enc.block('/q', '999m').equals(b)).to.equal(false);
    expect(enc.block('/p', undefined).length).to.be.below(b.length);
  });

  it('response blocks: an indexed-only block seen before decodes from memory only while the dynamic table is unchanged', () => {
    const lit = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
    /** §6.2.1 literal with incremental indexing, new name: inserted at dynamic index 62. */
    const insert = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), lit(name), lit(value)]);
    const dec = new ResponseHeaderDecoder();
    const read = (block: Buffer): Array<[string, string]> => {
      const got: Array<[string, string]> = [];
      dec.decode(block, (n, v) => got.push([n, v]));
      return got;
    };
    expect(read(Buffer.concat([Buffer.from([0x88]), insert('x-a', '1')]))).to.deep.equal([[':status', '200'], ['x-a', '1']]);
    const indexed = Buffer.from([0x88, 0xbe]); // :status 200 (static 8), dynamic 62
    expect(read(indexed)).to.deep.equal([[':status', '200'], ['x-a', '1']]);
    expect(read(indexed)).to.deep.equal([[':status', '200'], ['x-a', '1']]); // remembered
    // An insertion moves x-a to 63: the same bytes now mean x-b.
    expect(read(insert('x-b', '2'))).to.deep.equal([['x-b', '2']]);
    expect(read(indexed)).to.deep.equal([[':status', '200'], ['x-b', '2']]);
    expect(read(Buffer.from([0xbf]))).to.deep.equal([['x-a', '1']]);
    // A table size update to 0 empties the table: index 62 no longer exists, and memory must not say otherwise.
    expect(read(Buffer.from([0x20]))).to.deep.equal([]);
    expect(() => read(indexed)).to.throw(/HPACK decoding failed/);
  });
});

describe('h2 transport: ping against the real server', function () {
  this.timeout(120_000);
  let server: RunningServer;
  let model: string;
  let port: number;

  before(async function () {
    model = sharedFixture(this, MOBILENET_JSON);
    // 4 MB Ping responses test the transport's flow control: above the server's 1 MiB default padding cap.
    server = await startServer({ drainDelayMs: 0, port: 0, host: '::', model, normalize: 'signed', logLevel: 'silent', maxPingResponseBytes: 8 * 1024 * 1024 });
    port = server.port;
  });
  after(async () => {
    await server?.shutdown(1000);
  });

  it('is the default: every probe answered, the header line names the transport, JSON records it', async () => {
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '10', '--interval-ms', '10']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out[0]).to.match(/^PING 127\.0\.0\.1:\d+ \(gRPC Ping over h2\)/);
    expect(okLines(r)).to.have.length(10);
    expect(r.out.join('\n')).to.match(/10 probes sent, 10 received, 0 lost/);
    expect(r.json!.settings.transport).to.equal('h2');
    // The server's GetServerInfo went over the same transport into the report's environment.
    expect(JSON.stringify(r.json)).to.match(/"server":\{/);
    // Clock offset on one host is within the error bound (+1 ms slack), as with grpc-js: the stamps are sane.
    const s = r.json!.summary as unknown as { clock: { offset_ms: number; error_bound_ms: number } };
    expect(Math.abs(s.clock.offset_ms)).to.be.at.most(s.clock.error_bound_ms + 1);
  });

  it('reaches the server over IPv6 ([::1]:port)', async function () {
    if (!ipv6Loopback()) {
      console.log('      skipped: no ::1 on this machine');
      this.skip();
    }
    const r = await ping(['--target', `[::1]:${port}`, '--count', '3', '--interval-ms', '10', '-q']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out.join('\n')).to.match(/3 probes sent, 3 received, 0 lost/);
  });

  it('gives the same answers as --transport grpc-js (both selectable)', async () => {
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '5', '--interval-ms', '10', '--transport', 'grpc-js']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out[0]).to.match(/over grpc-js/);
    expect(okLines(r)).to.have.length(5);
  });

  it('--transport node-http2 (Node\'s HTTP/2 client) answers like the others: every probe OK, the header line and JSON name it, bench --rpc ping over it has no errors', async () => {
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '5', '--interval-ms', '10', '--transport', 'node-http2']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out[0]).to.match(/^PING 127\.0\.0\.1:\d+ \(gRPC Ping over node-http2\)/);
    expect(okLines(r)).to.have.length(5);
    expect(r.json!.settings.transport).to.equal('node-http2');
    expect(JSON.stringify(r.json)).to.match(/"server":\{/);
    const out: string[] = [];
    const json = path.join(dir, 'bench-ping-node-http2.json');
    const code = await main(['bench', '--target', `127.0.0.1:${port}`, '--rpc', 'ping', '--transport', 'node-http2', '-C', '4', '--requests', '200', '--warmup', '0', '--json', json], { out: (l) => out.push(l), err: () => undefined });
    expect(code, out.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.settings.transport).to.equal('node-http2');
    expect(rep.status_counts).to.deep.equal({ OK: rep.summary.ok });
    expect(rep.summary.ok).to.be.at.least(200);
  });

  it('--transport node-http2 carries 4 MB responses and requests too', async () => {
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '2', '--interval-ms', '300', '--response-bytes', '4000000', '--payload-bytes', '4000000', '--calibration-probes', '2', '--deadline-ms', '20000', '-q', '--transport', 'node-http2']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.json!.summary.status_counts).to.deep.equal({ OK: 2 });
    expect(r.json!.probes.every((p) => p.bytes_down! > 4_000_000 && p.bytes_up > 4_000_000)).to.equal(true);
  });

  it('bench --rpc ping runs over it by default: calls complete with OK and no errors', async () => {
    const out: string[] = [];
    const json = path.join(dir, 'bench-ping.json');
    const code = await main(['bench', '--target', `127.0.0.1:${port}`, '--rpc', 'ping', '-C', '8', '--duration', '0.5', '--warmup', '0', '--json', json], { out: (l) => out.push(l), err: () => undefined });
    expect(code, out.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.settings.transport).to.equal('h2');
    expect(rep.summary.ok).to.be.greaterThan(100);
    expect(rep.summary.errors).to.equal(0);
    expect(rep.status_counts).to.deep.equal({ OK: rep.summary.ok });
  });

  it('carries 4 MB responses and 4 MB requests (flow control both ways), with throughput figures', async () => {
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '3', '--interval-ms', '300', '--response-bytes', '4000000', '--payload-bytes', '4000000', '--calibration-probes', '3', '--deadline-ms', '20000', '-q']);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.json!.summary.status_counts).to.deep.equal({ OK: 3 });
    const loaded = r.json!.probes;
    expect(loaded.every((p) => p.bytes_down! > 4_000_000 && p.bytes_up > 4_000_000)).to.equal(true);
    expect(r.out.join('\n')).to.match(/throughput: up [\d.]+ MB\/s \(\d+ B\), down [\d.]+ MB\/s/);
  });

  it('a connection that goes silent mid-run (no RST, no FIN): DEADLINE_EXCEEDED, then a PING finds it dead and probes reconnect', async () => {
    // A loopback TCP relay whose existing connections can be frozen: bytes are swallowed, sockets stay open.
    const live = new Set<net.Socket>();
    let frozen = false;
    const relay = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1');
      const pair = [client, upstream];
      pair.forEach((x) => live.add(x));
      let mine = false; // frozen applies to the connections open when it was set
      const pass = (from: net.Socket, to: net.Socket): void => void from.on('data', (d) => (mine && frozen ? undefined : to.write(d)));
      pass(client, upstream);
      pass(upstream, client);
      const freezeMe = (): void => void (mine = true);
      client.once('freeze', freezeMe);
      pair.forEach((x) => x.on('error', () => undefined).on('close', () => pair.forEach((y) => (live.delete(y), y.destroy()))));
    });
    const relayPort = await new Promise<number>((r) => relay.listen(0, '127.0.0.1', () => r((relay.address() as net.AddressInfo).port)));
    try {
      let seen = 0;
      const r = await ping(['--target', `127.0.0.1:${relayPort}`, '--count', '200', '--interval-ms', '20', '--deadline-ms', '300'], (line) => {
        if (/seq=\d+ .*rtt=/.test(line) && ++seen === 10) {
          frozen = true;
          live.forEach((x) => x.emit('freeze'));
        }
      });
      const s = r.json!.summary;
      console.log(`      (200 probes, path frozen after 10: ${JSON.stringify(s.status_counts)}; ${JSON.stringify(r.json!.errors.map((e) => e.message.slice(0, 90)))})`);
      expect(s.status_counts.DEADLINE_EXCEEDED).to.be.greaterThan(10);
      // The calls still in flight when the PING went unanswered fail as UNAVAILABLE, saying why.
      const dropped = r.json!.probes.filter((p) => p.status === 'UNAVAILABLE');
      expect(dropped.length).to.be.greaterThan(0);
      expect(dropped.every((p) => /no answer to an HTTP\/2 PING .* connection presumed dead/.test(p.message ?? ''))).to.equal(true);
      expect(r.json!.probes.slice(-20).every((p) => p.status === 'OK')).to.equal(true);
    } finally {
      relay.close();
      live.forEach((x) => x.destroy());
    }
  });

  for (const transport of ['h2', 'node-http2']) {
    it(`${transport}: a server that goes away mid-run: its probes fail with UNAVAILABLE, later ones reconnect to its successor`, async function () {
      let seen = 0;
      let restarted: Promise<void> | undefined;
      const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '200', '--interval-ms', '25', '--deadline-ms', '1000', '--transport', transport], (line) => {
        if (/seq=\d+ .*rtt=/.test(line) && ++seen === 20) {
          restarted = (async () => {
            await server.shutdown(0);
            await new Promise((res) => setTimeout(res, 300)); // down for a while: probes meet a closed port
            server = await startServer({ drainDelayMs: 0, port, host: '::', model, normalize: 'signed', logLevel: 'silent' });
          })();
        }
      });
      await restarted;
      const s = r.json!.summary;
      const failed = r.json!.probes.filter((p) => p.status !== 'OK');
      console.log(`      (200 probes, server restarted: ${s.received} received, ${s.lost} lost; ${JSON.stringify(s.status_counts)}; e.g. ${JSON.stringify(r.json!.errors.slice(0, 2))})`);
      expect(r.code).to.equal(0);
      expect(s.lost).to.be.greaterThan(0);
      expect(failed.every((p) => p.status === 'UNAVAILABLE' && p.rtt_ns === undefined && (p.message ?? '').length > 0)).to.equal(true);
      expect(r.out.some((l) => /^seq=\d+ UNAVAILABLE: /.test(l))).to.equal(true);
      expect(r.out.join('\n')).to.match(/lost: UNAVAILABLE ×\d+/);
      // It recovered: the last probes were answered by the new server.
      expect(r.json!.probes.slice(-10).every((p) => p.status === 'OK')).to.equal(true);
    });
  }
});

describe('h2 transport: TLS and bearer tokens against the real server', function () {
  this.timeout(120_000);
  let certs: DevCerts;
  let server: RunningServer;
  let token: string;

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    certs = makeDevCerts();
    token = fs.readFileSync(certs.devToken, 'utf8').trim();
    const tokensFile = path.join(certs.dir, 'tokens.txt');
    fs.writeFileSync(tokensFile, `${token}\n`);
    server = await startServer({ drainDelayMs: 0, host: '127.0.0.1', port: 0, model, normalize: 'signed', tlsCert: certs.serverCert, tlsKey: certs.serverKey, tokensFile, logLevel: 'silent' });
  });
  after(async () => {
    await server?.shutdown(1000);
    certs?.remove();
  });

  it('pings over TLS (ALPN h2) with the right token, by name and by IP with --servername', async () => {
    const a = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--token', token, '--count', '3', '--interval-ms', '10', '-q']);
    expect(a.code, a.err.join('\n')).to.equal(0);
    expect(a.out.join('\n')).to.match(/3 probes sent, 3 received, 0 lost/);
    const b = await ping(['--target', `127.0.0.1:${server.port}`, '--tls', '--ca', certs.ca, '--servername', 'localhost', '--token', token, '--count', '3', '--interval-ms', '10', '-q']);
    expect(b.code, b.err.join('\n')).to.equal(0);
    expect(b.out.join('\n')).to.match(/3 probes sent, 3 received, 0 lost/);
  });

  it('--transport node-http2 pings over TLS with the token, and a wrong token reads as with h2', async () => {
    const ok = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--token', token, '--count', '3', '--interval-ms', '10', '-q', '--transport', 'node-http2']);
    expect(ok.code, ok.err.join('\n')).to.equal(0);
    expect(ok.out.join('\n')).to.match(/3 probes sent, 3 received, 0 lost/);
    const bad = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--token', 'nope', '--count', '2', '--interval-ms', '10', '--transport', 'node-http2']);
    const ours = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--token', 'nope', '--count', '2', '--interval-ms', '10']);
    expect(bad.code).to.equal(1);
    expect(bad.json!.summary.status_counts).to.deep.equal({ UNAUTHENTICATED: 2 });
    expect(bad.out.filter((l) => /^seq=/.test(l))).to.deep.equal(ours.out.filter((l) => /^seq=/.test(l)));
  });

  it('a wrong token: every probe UNAUTHENTICATED with the server\'s message, exit 1', async () => {
    const r = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--token', 'nope', '--count', '3', '--interval-ms', '10']);
    expect(r.code).to.equal(1);
    expect(r.json!.summary.status_counts).to.deep.equal({ UNAUTHENTICATED: 3 });
    expect(r.out.filter((l) => /^seq=\d+ UNAUTHENTICATED: .*invalid token/.test(l))).to.have.length(3);
  });

  it('no token: UNAUTHENTICATED saying what to send', async () => {
    const r = await ping(['--target', `localhost:${server.port}`, '--ca', certs.ca, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.out.join('\n')).to.match(/seq=0 UNAUTHENTICATED: missing authorization metadata/);
  });

  it('a CA that did not sign the server certificate: UNAVAILABLE naming the certificate problem', async () => {
    const r = await ping(['--target', `localhost:${server.port}`, '--ca', certs.otherCa, '--token', token, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/UNAVAILABLE: could not connect to localhost:\d+.*(certificate|self.signed|verify)/i);
  });

  it('plaintext to the TLS port: UNAVAILABLE, not a hang', async () => {
    const r = await ping(['--target', `127.0.0.1:${server.port}`, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/UNAVAILABLE: could not connect to 127\.0\.0\.1:\d+/);
  });
});

/** A PingResponse with no fields: the empty message, gRPC-framed. */
const EMPTY_GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

describe('h2 transport: peers that are not our server', function () {
  this.timeout(60_000);
  const servers: Array<{ close(cb?: () => void): void }> = [];
  after(() => servers.forEach((s) => s.close()));

  function listen(s: net.Server): Promise<number> {
    servers.push(s);
    return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
  }

  it('--deadline-ms: a server slower than the deadline → DEADLINE_EXCEEDED, and the deadline was sent as grpc-timeout', async () => {
    const timeouts: string[] = [];
    const slow = http2.createServer((req, res) => {
      timeouts.push(String(req.headers['grpc-timeout']));
      req.resume();
      const answer = (): void => {
        if (res.closed || res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.write(EMPTY_GRPC_MESSAGE);
        res.addTrailers({ 'grpc-status': '0' });
        res.end();
      };
      // GetServerInfo (before the run) is answered at once; each Ping after 1 s, long after the deadline.
      if (req.url.endsWith('/Ping')) setTimeout(answer, 1000);
      else answer();
    });
    const port = await listen(slow);
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '2', '--interval-ms', '50', '--deadline-ms', '150']);
    expect(r.code).to.equal(1);
    expect(r.json!.summary.status_counts).to.deep.equal({ DEADLINE_EXCEEDED: 2 });
    const ended = r.out.map((l) => /^seq=\d DEADLINE_EXCEEDED: Deadline exceeded after (\d+\.\d{3})s,remote_addr=127\.0\.0\.1:\d+$/.exec(l)).filter((m) => m !== null);
    expect(ended, r.out.join('\n')).to.have.length(2);
    for (const m of ended) expect(Number(m[1])).to.be.within(0.14, 0.9); // the local timer, not the server, ended the call
    expect(timeouts.slice(1).every((t) => /^1[45]\dm$/.test(t)), timeouts.join(',')).to.equal(true);
  });

  it('header blocks larger than one frame go out and come back in CONTINUATION frames (a 20 kB token, a 30 kB status message)', async () => {
    const seen: number[] = [];
    const big = http2.createServer((req, res) => {
      seen.push(String(req.headers.authorization ?? '').length);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '9', 'grpc-message': 'x'.repeat(30_000) + ' end' });
      res.end();
    });
    big.on('session', (s) => s.settings({ maxHeaderListSize: 1 << 20 }));
    const port = await listen(big);
    const token = 't'.repeat(20_000);
    const r = await ping(['--target', `127.0.0.1:${port}`, '--token', token, '--count', '1']);
    expect(seen.every((n) => n === 'Bearer '.length + token.length), String(seen)).to.equal(true);
    expect(r.json!.probes[0].status).to.equal('FAILED_PRECONDITION');
    expect(r.json!.probes[0].message).to.have.length(30_004).and.match(/x end$/);
  });

  it('an HTTP/2 web server (404, text/html) → UNIMPLEMENTED saying it is not a gRPC server', async () => {
    const web = http2.createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html>not found</html>');
    });
    const port = await listen(web);
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.out.join('\n')).to.match(/seq=0 UNIMPLEMENTED: Received HTTP status code 404 \(content-type "text\/html": not a gRPC server\)/);
  });

  it('node-http2 prints the same status lines as h2: a 404 web server, a gRPC error with a percent-encoded message, a deadline', async () => {
    const srv = http2.createServer((req, res) => {
      req.resume();
      if (req.url === '/inference.v1.InferenceService/GetServerInfo') {
        res.writeHead(404, { 'content-type': 'text/html' });
        return void res.end('<html>not found</html>');
      }
      // Ping: odd probes fail with a percent-encoded message, even ones are never answered (the deadline ends them).
      const seq = pings++;
      if (seq % 2 === 1) {
        res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '8', 'grpc-message': 'queue%20full: 100%25' });
        res.end();
      }
    });
    let pings = 0;
    const port = await listen(srv);
    const lines = async (transport: string): Promise<string[]> => {
      pings = 0;
      const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '4', '--interval-ms', '20', '--deadline-ms', '300', '--transport', transport]);
      expect(r.code).to.equal(1);
      // In seq order: lines are printed as calls end, and the deadlines end after the errors.
      const seq = (l: string): number => Number(/^seq=(\d+)/.exec(l)![1]);
      return r.out.filter((l) => /^seq=/.test(l)).sort((x, y) => seq(x) - seq(y)).map((l) => l.replace(/after \d+\.\d{3}s/, 'after Ns'));
    };
    const ours = await lines('h2');
    expect(ours).to.deep.equal([
      `seq=0 DEADLINE_EXCEEDED: Deadline exceeded after Ns,remote_addr=127.0.0.1:${port}`,
      'seq=1 RESOURCE_EXHAUSTED: queue full: 100%',
      `seq=2 DEADLINE_EXCEEDED: Deadline exceeded after Ns,remote_addr=127.0.0.1:${port}`,
      'seq=3 RESOURCE_EXHAUSTED: queue full: 100%',
    ]);
    expect(await lines('node-http2')).to.deep.equal(ours);
    const web = http2.createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html>not found</html>');
    });
    const webPort = await listen(web);
    const notGrpc = await ping(['--target', `127.0.0.1:${webPort}`, '--count', '1', '--transport', 'node-http2']);
    expect(notGrpc.out.join('\n')).to.match(/seq=0 UNIMPLEMENTED: Received HTTP status code 404 \(content-type "text\/html": not a gRPC server\)/);
  });

  it('an HTTP/1.1 server → UNAVAILABLE saying it does not speak HTTP/2', async () => {
    const h1 = http.createServer((_req, res) => res.end('hello'));
    const port = await listen(h1 as unknown as net.Server);
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/UNAVAILABLE: could not connect to 127\.0\.0\.1:\d+ within 3000 ms \(the server at 127\.0\.0\.1:\d+ does not speak HTTP\/2 \(it answered "HTTP\/1\.1 400 Bad Request"\)\)/);
  });

  it('a TCP server that accepts but never answers → UNAVAILABLE within the connect budget, not a hang', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((c) => void held.push(c.on('error', () => undefined)));
    const port = await listen(silent);
    const t0 = Date.now();
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '1']);
    held.forEach((c) => c.destroy());
    expect(r.code).to.equal(1);
    expect(Date.now() - t0).to.be.below(6000);
    expect(r.err.join('\n')).to.match(/UNAVAILABLE: could not connect to 127\.0\.0\.1:\d+ within 3000 ms \(no HTTP\/2 SETTINGS from 127\.0\.0\.1:\d+ yet\)/);
  });

  /** An HTTP/2 server that answers every gRPC call with an empty message and OK, after `delayMs`. */
  function grpcOk(delayMs: number, onStream?: (session: http2.ServerHttp2Session, active: number) => void, settings?: http2.Settings): http2.Http2Server {
    let active = 0;
    return http2.createServer({ settings }, (req, res) => {
      active++;
      onStream?.(req.stream.session as http2.ServerHttp2Session, active);
      req.resume();
      setTimeout(() => {
        active--;
        if (res.closed || res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.write(EMPTY_GRPC_MESSAGE);
        res.addTrailers({ 'grpc-status': '0' });
        res.end();
      }, delayMs);
    });
  }

  for (const transport of ['h2', 'node-http2']) {
    it(`${transport}: a server that rotates connections with a graceful GOAWAY (as max-connection-age does): no probe lost, the next one reconnects`, async () => {
      const sessions = new Set<http2.ServerHttp2Session>();
      let calls = 0;
      // Every 5th call on a connection: GOAWAY NO_ERROR naming that call as the last, then answer it.
      const srv = grpcOk(2, (session) => {
        sessions.add(session);
        if (++calls % 5 === 0) session.goaway(http2.constants.NGHTTP2_NO_ERROR, (session as unknown as { state: { lastProcStreamID?: number } }).state.lastProcStreamID ?? 0);
      });
      const port = await listen(srv);
      const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '20', '--interval-ms', '10', '-q', '--transport', transport]);
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(r.json!.summary.status_counts).to.deep.equal({ OK: 20 });
      // 21 calls (GetServerInfo first) at one GOAWAY per 5 calls: at least 4 connections were used.
      expect(sessions.size).to.be.at.least(4);
    });

    it(`${transport}: GOAWAY naming an earlier last stream: calls above it were not processed and are sent again on a new connection, all OK`, async () => {
      const sessions = new Set<http2.ServerHttp2Session>();
      const lastOf = new Map<http2.ServerHttp2Session, number>();
      let streams = 0;
      let unprocessed = 0;
      const srv = http2.createServer((req, res) => {
        const session = req.stream.session as http2.ServerHttp2Session;
        const id = req.stream.id ?? 0;
        sessions.add(session);
        req.resume();
        const last = lastOf.get(session);
        if (last !== undefined && id > last) return; // after our GOAWAY: never processed
        // The 10th stream overall: GOAWAY saying only streams up to two before it will be processed; it and
        // whatever else is in flight above that are left unanswered, as a server that really went away would.
        if (++streams === 10) {
          lastOf.set(session, id - 4);
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, id - 4);
          unprocessed++;
          return;
        }
        setTimeout(() => {
          if (res.closed || res.destroyed) return;
          res.writeHead(200, { 'content-type': 'application/grpc' });
          res.write(EMPTY_GRPC_MESSAGE);
          res.addTrailers({ 'grpc-status': '0' });
          res.end();
        }, 5);
      });
      const port = await listen(srv);
      const json = path.join(dir, `bench-goaway-${transport}.json`);
      const out: string[] = [];
      const code = await main(['bench', '--target', `127.0.0.1:${port}`, '--rpc', 'ping', '-C', '4', '--requests', '40', '--warmup', '0', '--deadline-ms', '5000', '--transport', transport, '--json', json], { out: (l) => out.push(l), err: (l) => out.push(l) });
      expect(code, out.join('\n')).to.equal(0);
      const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(unprocessed, 'the server did leave a call unprocessed').to.equal(1);
      expect(rep.summary.errors, JSON.stringify(rep.errors)).to.equal(0);
      expect(rep.status_counts).to.deep.equal({ OK: rep.summary.ok });
      expect(sessions.size).to.be.at.least(2);
    });
  }

  const transports: Record<string, (port: number) => UnaryTransport & { ready(ms: number): Promise<void> }> = {
    h2: (port) => h2Transport({ target: `127.0.0.1:${port}`, tls: false, connections: 1 }),
    'node-http2': (port) => nodeHttp2Transport({ target: `127.0.0.1:${port}`, tls: false, connections: 1 }),
  };

  for (const transport of ['h2', 'node-http2']) {
    it(`${transport}: a call that reaches the server and passes its deadline reports DEADLINE_EXCEEDED with its request's send stamp`, async () => {
      let streams = 0;
      const port = await listen(http2.createServer((req) => void (streams++, req.resume()))); // never answers
      const t = transports[transport](port);
      try {
        await t.ready(10_000);
        const before = process.hrtime.bigint();
        const o = await new Promise<UnaryOutcome>((r) => t.unary(0, '/test.Peer/Call', Buffer.from('x'), r, 200));
        expect(o.code, o.details).to.equal(4);
        expect(streams, 'requests the server received').to.equal(1);
        // 0n would say "never written", and ping would then date the probe before the transport sent it.
        expect(o.sentNs >= before && o.sentNs <= o.endNs, `${before} ≤ ${o.sentNs} ≤ ${o.endNs}`).to.equal(true);
      } finally {
        t.close();
      }
    });
  }

  it('node-http2: close() also ends a session left draining by GOAWAY with a stream the server never answers', async () => {
    const sessions = new Set<http2.ServerHttp2Session>();
    let closedSessions = 0;
    const srv = http2.createServer((req, res) => {
      const session = req.stream.session as http2.ServerHttp2Session;
      req.resume();
      if (!sessions.has(session)) {
        sessions.add(session);
        session.on('close', () => void closedSessions++);
      }
      if (sessions.size === 1) return void session.goaway(http2.constants.NGHTTP2_NO_ERROR, req.stream.id ?? 0); // this stream will be processed… never
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.write(EMPTY_GRPC_MESSAGE);
      res.addTrailers({ 'grpc-status': '0' });
      res.end();
    });
    const port = await listen(srv);
    const t = nodeHttp2Transport({ target: `127.0.0.1:${port}`, tls: false, connections: 1 });
    await t.ready(10_000);
    const first = new Promise<UnaryOutcome>((r) => t.unary(0, '/test.Peer/Call', Buffer.alloc(0), r));
    while (sessions.size < 1) await new Promise((r) => setTimeout(r, 5));
    // Once the GOAWAY is in, the next call goes to a new session (the test's timeout bounds the wait).
    let second: UnaryOutcome | undefined;
    while (sessions.size < 2) second = await new Promise<UnaryOutcome>((r) => t.unary(0, '/test.Peer/Call', Buffer.alloc(0), r));
    expect(second?.code).to.equal(0);
    t.close();
    while (closedSessions < 2) await new Promise((r) => setTimeout(r, 5));
    expect((await first).code).to.equal(14);
  });

  it('a server that allows 1 stream at a time (SETTINGS_MAX_CONCURRENT_STREAMS 1): bench -C 4 queues on the client, never exceeds it, all OK', async () => {
    let peak = 0;
    const srv = grpcOk(5, (_s, active) => void (peak = Math.max(peak, active)), { maxConcurrentStreams: 1 });
    const port = await listen(srv);
    const json = path.join(dir, 'bench-one-stream.json');
    const out: string[] = [];
    const code = await main(['bench', '--target', `127.0.0.1:${port}`, '--rpc', 'ping', '-C', '4', '--requests', '40', '--warmup', '0', '--json', json], { out: (l) => out.push(l), err: (l) => out.push(l) });
    expect(code, out.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.summary.errors).to.equal(0);
    expect(rep.status_counts).to.deep.equal({ OK: rep.summary.ok });
    expect(rep.summary.ok).to.be.at.least(40);
    expect(peak, 'concurrent streams the server saw').to.equal(1);
  });

  it('a port nobody listens on → UNAVAILABLE with the connect error', async () => {
    const s = net.createServer();
    const port = await listen(s);
    await new Promise<void>((res) => s.close(() => res()));
    const r = await ping(['--target', `127.0.0.1:${port}`, '--count', '1']);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/UNAVAILABLE: could not connect to 127\.0\.0\.1:\d+: nothing listens there.*\(connect ECONNREFUSED/);
  });
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));
