/**
 * Errors that say what to do: each mistake a newcomer makes with rtinfer, made for real against real
 * servers (plaintext, TLS and mutual TLS, with the certificates scripts/dev-certs.sh writes), and the
 * message checked for the cause and the flag that fixes it, on every transport.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../src/client/cli';
import { hintFor } from '../src/client/connect-diagnosis';
import { IDENTICAL_FAILURES_TO_STOP } from '../src/client/failure-guard';
import { toolVersion } from '../src/measure/report-json';
import { serverCredentials } from '../src/server/tls';
import { DevCerts, makeDevCerts } from './helpers/dev-certs';
import { suiteTempDir } from './helpers/temp-dir';
import { startTinyServer, TinyServer } from './helpers/tiny-grpc-server';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function rtinfer(args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** Each verb that connects, in the shortest form that would run against a healthy server. */
const VERBS: Array<{ name: string; args: string[] }> = [
  { name: 'ping (h2)', args: ['ping', '-c', '1', '--transport', 'h2'] },
  { name: 'ping (node-http2)', args: ['ping', '-c', '1', '--transport', 'node-http2'] },
  { name: 'ping (grpc-js)', args: ['ping', '-c', '1', '--transport', 'grpc-js'] },
  { name: 'bench --rpc ping (h2)', args: ['bench', '--rpc', 'ping', '--requests', '2', '--warmup', '0'] },
  { name: 'bench (grpc-js)', args: ['bench', '--requests', '2', '--warmup', '0', '--image-size', '8x8'] },
  { name: 'stream (grpc-js)', args: ['stream', '--frames', '2', '--warmup', '0', '--image-size', '8x8'] },
];

// A waiting client would take this long (ready waits max(3 s, --deadline-ms)); the test timeout is far
// shorter, so a verb that waits instead of failing at once fails its test. No wall-clock bound needed.
const LONG_DEADLINE = ['--deadline-ms', '600000'];

describe('client errors: connection mistakes name the cause and the flag', function () {
  this.timeout(60_000);
  let certs: DevCerts;
  let tlsServer: TinyServer;
  let mtlsServer: TinyServer;
  let plainServer: TinyServer;
  let closedPort: number;
  const tmp = suiteTempDir('rti-errors-');

  before(async function () {
    certs = makeDevCerts();
    tlsServer = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey }));
    mtlsServer = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca }));
    plainServer = await startTinyServer(grpc.ServerCredentials.createInsecure());
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    closedPort = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
  });
  after(async () => {
    await Promise.all([tlsServer?.close(), mtlsServer?.close(), plainServer?.close()]);
    certs?.remove();
  });

  for (const v of VERBS) {
    describe(v.name, () => {
      it('a TLS server called without --tls → "the server speaks TLS: add --tls", exit 1', async () => {
        const r = await rtinfer([...v.args, '-t', `localhost:${tlsServer.port}`, ...LONG_DEADLINE]);
        expect(r.code, r.err.join('\n')).to.equal(1);
        expect(r.err.join('\n')).to.match(/could not connect to localhost:\d+: the server speaks TLS: add --tls \(and --ca FILE if its certificate is not from a public CA\)/);
      });

      it('--tls without --ca to a dev-CA certificate → "certificate not trusted: pass --ca FILE" with OpenSSL\'s reason', async () => {
        const r = await rtinfer([...v.args, '-t', `localhost:${tlsServer.port}`, '--tls', ...LONG_DEADLINE]);
        expect(r.code).to.equal(1);
        expect(r.err.join('\n')).to.match(/certificate not trusted: pass --ca FILE \(unable to verify the first certificate\)/);
      });

      it('--tls to a plaintext server → "does not speak TLS here: drop --tls"', async () => {
        const r = await rtinfer([...v.args, '-t', `localhost:${plainServer.port}`, '--tls', ...LONG_DEADLINE]);
        expect(r.code).to.equal(1);
        expect(r.err.join('\n')).to.match(/the server does not speak TLS here: drop --tls/);
      });

      it('a closed port → ECONNREFUSED at once, not after the connect deadline', async () => {
        const r = await rtinfer([...v.args, '-t', `127.0.0.1:${closedPort}`, ...LONG_DEADLINE]);
        expect(r.code).to.equal(1);
        const e = r.err.join('\n');
        expect(e).to.match(/could not connect to 127\.0\.0\.1:\d+: nothing listens there: is the server running, and on this port\? \(connect ECONNREFUSED/);
        expect(e).not.to.match(/within/);
      });

      it('mutual TLS without --cert → "the server requires a client certificate: pass --cert … --key"', async () => {
        const r = await rtinfer([...v.args, '-t', `localhost:${mtlsServer.port}`, '--ca', certs.ca, ...LONG_DEADLINE]);
        expect(r.code).to.equal(1);
        expect(r.err.join('\n')).to.match(/the server requires a client certificate: pass --cert FILE and --key FILE \(tlsv13 alert certificate required\)/);
      });

      it('mutual TLS with --cert/--key from dev-certs.sh → connected (the call itself reaches the server)', async () => {
        const before = mtlsServer.pings();
        const r = await rtinfer([...v.args, '-t', `localhost:${mtlsServer.port}`, '--ca', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey]);
        expect(r.err.join('\n')).not.to.match(/could not connect/);
        // The tiny server answers Ping; Classify is UNIMPLEMENTED there, so only the ping verbs can succeed.
        if (v.args.includes('ping')) {
          expect(r.code, r.err.join('\n')).to.equal(0);
          expect(mtlsServer.pings()).to.be.above(before);
        } else expect([...r.out, ...r.err].join('\n')).to.match(/UNIMPLEMENTED/);
      });
    });
  }

  it('a TLS 1.2 server requiring a client certificate (handshake failure) → "pass --cert FILE and --key FILE"', async () => {
    // grpc-js servers negotiate TLS 1.3; node:http2 can be held to 1.2, where OpenSSL's alert differs.
    const s = http2.createSecureServer({ cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey), ca: fs.readFileSync(certs.ca), requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (s.address() as net.AddressInfo).port;
      for (const transport of ['h2', 'node-http2', 'grpc-js']) {
        const r = await rtinfer(['ping', '-c', '1', '--transport', transport, '-t', `localhost:${port}`, '--ca', certs.ca, ...LONG_DEADLINE]);
        expect(r.code, transport).to.equal(1);
        expect(r.err.join('\n'), transport).to.match(/requires a client certificate: pass --cert FILE and --key FILE \(.*handshake failure\)/);
      }
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('a client certificate from a CA the server does not trust → "the server rejected the client certificate"', async () => {
    // A self-signed client certificate: no CA the server trusts vouches for it.
    const key = path.join(tmp.path, 'stranger.key');
    const cert = path.join(tmp.path, 'stranger.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=stranger'], { stdio: 'ignore' });
    for (const transport of ['h2', 'node-http2', 'grpc-js']) {
      const r = await rtinfer(['ping', '-c', '1', '--transport', transport, '-t', `localhost:${mtlsServer.port}`, '--ca', certs.ca, '--cert', cert, '--key', key, ...LONG_DEADLINE]);
      expect(r.code, transport).to.equal(1);
      expect(r.err.join('\n'), transport).to.match(/could not connect to localhost:\d+: the server rejected the client certificate --cert .*stranger\.crt/);
    }
  });

  it('a --key that does not go with --cert is named before connecting', async () => {
    const r = await rtinfer(['ping', '-c', '1', '-t', `localhost:${mtlsServer.port}`, '--ca', certs.ca, '--cert', certs.clientCert, '--key', certs.serverKey]);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/--key .*server\.key does not go with --cert .*client\.crt \(key values mismatch\)/);
  });

  it('classify against a TLS server without --tls says the same', async () => {
    const img = path.join(tmp.path, 'x.jpg');
    fs.writeFileSync(img, Buffer.from([0xff, 0xd8, 0xff]));
    const r = await rtinfer(['classify', img, '-t', `localhost:${tlsServer.port}`]);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/the server speaks TLS: add --tls/);
  });

  it('--cert without --key, and --key without --cert, are usage errors (exit 2)', async () => {
    const a = await rtinfer(['ping', '-c', '1', '-t', `localhost:${mtlsServer.port}`, '--cert', certs.clientCert]);
    expect(a.code).to.equal(2);
    expect(a.err.join('\n')).to.match(/--cert needs --key/);
    const b = await rtinfer(['ping', '-c', '1', '-t', `localhost:${mtlsServer.port}`, '--key', certs.clientKey]);
    expect(b.code).to.equal(2);
    expect(b.err.join('\n')).to.match(/--key given without --cert/);
  });

  it('a --cert file that is not PEM is named', async () => {
    const r = await rtinfer(['ping', '-c', '1', '-t', `localhost:${mtlsServer.port}`, '--cert', 'package.json', '--key', certs.clientKey]);
    expect(r.code).to.equal(1);
    expect(r.err.join('\n')).to.match(/--cert package\.json is not PEM/);
  });
});

describe('client errors: OpenSSL and socket texts → advice (hintFor)', () => {
  const plain = { tls: false };
  const withTls = { tls: true };
  const cases: Array<[string, Parameters<typeof hintFor>[1], RegExp]> = [
    ['certificate has expired', withTls, /certificate has expired/],
    ["Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list", withTls, /does not name the host .*--servername NAME/],
    ['self-signed certificate in certificate chain', withTls, /certificate not trusted: pass --ca FILE/],
    ['unable to get local issuer certificate', { tls: true, ca: 'x.crt' }, /--ca x\.crt did not sign/],
    ['SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:', { tls: true, cert: 'c.crt' }, /rejected the client certificate --cert c\.crt/],
    ['SSL routines:ssl3_get_record:wrong version number:', withTls, /drop --tls/],
    ['getaddrinfo ENOTFOUND nowhere.invalid', plain, /cannot resolve the host name/],
  ];
  for (const [text, o, hint] of cases) {
    it(`"${text.slice(0, 50)}" → ${hint.source}`, () => {
      expect(hintFor(text, o, 'h:1')).to.match(hint);
    });
  }
  it('a text that names no cause gets no made-up advice', () => {
    expect(hintFor('Connection dropped', plain, 'h:1')).to.equal(undefined);
    expect(hintFor('wrong version number', plain, 'h:1'), 'not "drop --tls" when --tls was not given').to.equal(undefined);
  });
});

describe('client errors: numeric flags are usage errors naming the flag', function () {
  this.timeout(30_000);
  // A target nobody listens on: a bad flag must be refused before any connection is tried.
  const t = ['-t', '127.0.0.1:1'];
  const cases: Array<[string[], RegExp]> = [
    [['ping', '--count', '-1'], /--count must be a whole number ≥ 1 \(got -1\)/],
    [['ping', '--count', 'abc'], /--count must be a whole number ≥ 1 \(got abc\)/],
    [['ping', '--count', '0'], /--count must be a whole number ≥ 1/],
    [['ping', '--interval-ms', '0'], /--interval-ms must be a number > 0/],
    [['ping', '--payload-bytes', '-3'], /--payload-bytes must be a whole number ≥ 0/],
    [['ping', '--warmup', '1.5'], /--warmup must be a whole number ≥ 0/],
    [['ping', '--duration', 'x'], /--duration must be a number > 0 \(got x\)/],
    [['ping', '--connections', '0'], /--connections must be a whole number ≥ 1/],
    [['ping', '--deadline-ms', '-1'], /--deadline-ms must be a number ≥ 0/],
    [['bench', '--concurrency', '0'], /--concurrency must be a whole number ≥ 1/],
    [['bench', '--rate', '-5'], /--rate must be a number > 0/],
    [['bench', '--requests', '0'], /--requests must be a whole number ≥ 1/],
    [['bench', '--warmup', '-1'], /--warmup must be a number ≥ 0/],
    [['bench', '--percentile', '101'], /--percentile must be a percentile in \(0, 100\]/],
    [['bench', '--top-k', 'NaN'], /--top-k must be a whole number ≥ 1/],
    [['bench', '--fps', '0'], /--fps must be a number > 0/],
    [['stream', '--window', '0'], /--window must be a whole number ≥ 1/],
    [['stream', '--frames', '-2'], /--frames must be a whole number ≥ 1/],
    [['stream', '--budget-ms', 'soon'], /--budget-ms must be a number > 0 \(got soon\)/],
    [['classify', 'x.jpg', '--top-k', '0'], /--top-k must be a whole number ≥ 1/],
    [['bench', '--image-size', '0x5'], /--image-size 0x5 out of range/],
  ];
  for (const [args, msg] of cases) {
    it(`${args.join(' ')} → exit 2`, async () => {
      const r = await rtinfer([...args, ...t]);
      expect(r.code, r.err.join('\n')).to.equal(2);
      expect(r.err.join('\n')).to.match(msg);
      expect(r.out.join('\n')).not.to.match(/probes sent/);
    });
  }
});

/** A plaintext tiny server for the suite this is called in (started before its tests, closed after). */
function usePlainServer(): () => TinyServer {
  let server: TinyServer | undefined;
  before(async () => {
    server = await startTinyServer(grpc.ServerCredentials.createInsecure());
  });
  after(() => server?.close());
  return () => server!;
}

describe('client errors: bad images and runs that cannot measure anything', function () {
  this.timeout(120_000);
  const plain = usePlainServer();
  const tmp = suiteTempDir('rti-img-');

  it('bench --images package.json is refused before the run, naming the file (exit 2)', async () => {
    const r = await rtinfer(['bench', '--images', 'package.json', '-t', `127.0.0.1:${plain().port}`, '--duration', '600']);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.match(/--images: package\.json: not an image this client can read/);
  });

  it('stream --images with an empty file is refused the same way', async () => {
    const empty = path.join(tmp.path, 'empty.jpg');
    fs.writeFileSync(empty, '');
    const r = await rtinfer(['stream', '--images', empty, '-t', `127.0.0.1:${plain().port}`]);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.match(/empty\.jpg: the file is empty/);
  });

  // The tiny server answers Classify with UNIMPLEMENTED: every call fails the same way. A 600 s run must
  // stop on its own (the test timeout is far shorter) and say why once, with the count.
  for (const verb of [['bench', '--duration', '600', '--concurrency', '4'], ['stream', '--duration', '600', '--fps', '200']]) {
    it(`${verb[0]}: the first ${IDENTICAL_FAILURES_TO_STOP} calls failing alike stop the run (exit 1, the error once)`, async () => {
      const r = await rtinfer([...verb, '--image-size', '8x8', '--warmup', '0', '-t', `127.0.0.1:${plain().port}`]);
      expect(r.code).to.equal(1);
      const stops = r.err.filter((l) => /stopped: the first \d+ calls all failed with UNIMPLEMENTED: not in the tiny test server/.test(l));
      expect(stops).to.have.length(1);
      expect(stops[0]).to.contain(`first ${IDENTICAL_FAILURES_TO_STOP} calls`);
      expect(r.out.join('\n')).not.to.match(/p99/);
    });
  }

  it('a run that succeeds is not stopped by the guard', async () => {
    const r = await rtinfer(['bench', '--rpc', 'ping', '--requests', String(3 * IDENTICAL_FAILURES_TO_STOP), '--warmup', '0', '-t', `127.0.0.1:${plain().port}`]);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.err.join('\n')).not.to.match(/stopped/);
  });
});

describe('client: --json -, --version and --help', function () {
  this.timeout(60_000);
  const plain = usePlainServer();

  it('--json - writes the JSON alone to stdout and the human lines to stderr', async () => {
    const r = await rtinfer(['ping', '-c', '2', '-i', '10', '--json', '-', '-t', `127.0.0.1:${plain().port}`]);
    expect(r.code, r.err.join('\n')).to.equal(0);
    const rep = JSON.parse(r.out.join('\n'));
    expect(rep.verb).to.equal('ping');
    expect(rep.summary.received).to.equal(2);
    expect(r.err.join('\n')).to.match(/^PING /m);
    expect(fs.existsSync('-')).to.equal(false);
  });

  it('--version prints the package version', async () => {
    const r = await rtinfer(['--version']);
    expect(r.code).to.equal(0);
    expect(r.out.join('\n').trim()).to.equal(toolVersion());
    expect(toolVersion()).to.equal(JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')).version);
  });

  // Every option line of every verb's --help carries words besides its flags and [type]/[default]/[choices].
  for (const verb of [[], ['ping'], ['classify'], ['bench'], ['stream'], ['report']]) {
    it(`rtinfer ${verb.join(' ') || '(no verb)'} --help: every option has a description`, async () => {
      const r = await rtinfer([...verb, '--help']);
      expect(r.code).to.equal(0);
      const lines = r.out.join('\n').split('\n');
      const optionLines = lines.filter((l) => /^\s+(-\w, )?--[\w-]+/.test(l));
      expect(optionLines.length, 'option lines found').to.be.above(1);
      const bare = optionLines.filter((l) => {
        const rest = l.replace(/^\s+(-\w, )?--[\w-]+(, -\w)?/, '').replace(/\[[^\]]*\]/g, '').trim();
        return rest === '';
      });
      expect(bare, 'options without a description').to.deep.equal([]);
    });
  }
});

describe('client errors: rtinfer local (through bin/rtinfer.js, as a user runs it)', function () {
  this.timeout(120_000);
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'rtinfer.js');
  const rtinferBin = (args: string[]): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 90_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  for (const verb of ['classify', 'bench']) {
    it(`local ${verb} --help: every option has a description`, () => {
      const r = rtinferBin(['local', verb, '--help']);
      expect(r.code).to.equal(0);
      const optionLines = r.out.split('\n').filter((l) => /^\s+(-\w, )?--[\w-]+/.test(l));
      expect(optionLines.length).to.be.above(1);
      const bare = optionLines.filter((l) => l.replace(/^\s+(-\w, )?--[\w-]+(, -\w)?/, '').replace(/\[[^\]]*\]/g, '').trim() === '');
      expect(bare, 'options without a description').to.deep.equal([]);
    });
  }

  it('local bench: a bad number and a file that is not an image are usage errors (exit 2), before any model loads', () => {
    const n = rtinferBin(['local', 'bench', '--concurrency', '-1']);
    expect(n.code).to.equal(2);
    expect(n.err).to.match(/--concurrency must be a whole number ≥ 1 \(got -1\)/);
    const i = rtinferBin(['local', 'bench', '--images', 'package.json']);
    expect(i.code).to.equal(2);
    expect(i.err).to.match(/--images: package\.json: not an image/);
  });

  it('rtinfer --version and rtinfer local --version print the package version', () => {
    expect(rtinferBin(['--version']).out.trim()).to.equal(toolVersion());
    expect(rtinferBin(['local', '--version']).out.trim()).to.equal(toolVersion());
  });
});
