/**
 * End to end, as a user would: the real server (startServer, default GoogLeNet model) with TLS and a tokens
 * file, called by `buf curl` (a non-Node gRPC client) over TLS, then its /metrics scraped.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { startServer, type RunningServer } from '../src/server/app';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { parsePrometheusText, sumSamples } from './helpers/prometheus-text';
import { scrapeMetrics } from './helpers/grpc-client';

const ROOT = path.resolve(__dirname, '..', '..');
const BUF = path.join(ROOT, 'node_modules', '.bin', 'buf');
const SCHEMA = path.join(ROOT, 'src', 'gen', 'inference.binpb');

function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BUF, ['curl', '--protocol', 'grpc', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}


describe('server with --tls-cert/--tls-key/--tokens-file, called by buf curl (end to end)', function () {
  let certs: DevCerts;
  let server: RunningServer;
  let token: string;
  let url: (method: string) => string;
  let tls: string[];

  before(async function () {
    certs = makeDevCerts();
    token = fs.readFileSync(certs.devToken, 'utf8').trim();
    const tokensFile = path.join(certs.dir, 'tokens.txt');
    fs.writeFileSync(tokensFile, `# e2e\n${token}\n`);
    server = await startServer({ drainDelayMs: 0,
      host: '127.0.0.1', port: 0, tlsCert: certs.serverCert, tlsKey: certs.serverKey, tokensFile,
      metricsPort: 0, metricsHost: '127.0.0.1', logLevel: 'warn',
    });
    url = (m) => `https://localhost:${server.port}/inference.v1.InferenceService/${m}`;
    tls = ['--cacert', certs.ca];
  });
  after(async () => {
    await server?.shutdown(1000);
    certs?.remove();
  });

  it('rejects a call without a token with unauthenticated (reflection and the call itself)', async function () {
    // Reflection is not exempt, so buf curl cannot even learn the schema. (buf reports that as "failed to
    // find service named ..." and hides the UNAUTHENTICATED; the metrics test below sees the real code.)
    const r = await bufCurl([...tls, '-d', '{"seq": 1}', url('Ping')]);
    expect(r.code, r.stderr).to.not.equal(0);
    expect(r.stdout).to.equal('');
    // With the schema from the descriptor set, the rejection comes from the Ping call, with our message.
    const s = await bufCurl([...tls, '--schema', SCHEMA, '-d', '{"seq": 1}', url('Ping')]);
    expect(s.code).to.not.equal(0);
    expect(s.stderr).to.match(/unauthenticated/i);
    expect(s.stderr).to.include("missing authorization metadata: send 'authorization: Bearer ");
  });

  it('rejects a wrong token and a client that does not trust the server CA', async function () {
    const wrong = await bufCurl([...tls, '--schema', SCHEMA, '-H', 'authorization: Bearer nope', '-d', '{"seq": 1}', url('Ping')]);
    expect(wrong.stderr).to.match(/unauthenticated/i);
    expect(wrong.stderr).to.match(/invalid token/);
    const untrusted = await bufCurl(['--cacert', certs.otherCa, '--schema', SCHEMA, '-H', `authorization: Bearer ${token}`, '-d', '{"seq": 1}', url('Ping')]);
    expect(untrusted.code).to.not.equal(0);
    expect(untrusted.stderr).to.match(/certificate|x509/i);
  });

  it('accepts an authenticated Ping and Classify over TLS (reflection with the same header)', async function () {
    const auth = ['-H', `authorization: Bearer ${token}`, '--reflect-header', '*'];
    const p = await bufCurl([...tls, ...auth, '-d', '{"seq": 7}', url('Ping')]);
    expect(p.code, p.stderr).to.equal(0);
    expect(JSON.parse(p.stdout).seq).to.equal('7');
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toBuffer();
    const c = await bufCurl([...tls, ...auth, '-d', JSON.stringify({ image: png.toString('base64'), topK: 3 }), url('Classify')]);
    expect(c.code, c.stderr).to.equal(0);
    expect(JSON.parse(c.stdout).predictions).to.have.length(3);
  });

  it('/metrics afterwards is valid Prometheus text counting those calls by method and code', async function () {
    const fams = parsePrometheusText(await scrapeMetrics(server.metricsPort!));
    expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Ping', grpc_code: 'OK' })).to.be.at.least(1);
    expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Ping', grpc_code: 'UNAUTHENTICATED' })).to.be.at.least(2);
    expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Classify', grpc_code: 'OK' })).to.equal(1);
    expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'ServerReflectionInfo', grpc_code: 'UNAUTHENTICATED' })).to.be.at.least(1);
    expect(sumSamples(fams, 'inference_request_seconds_count')).to.be.at.least(1);
    expect(sumSamples(fams, 'inference_batch_size_count')).to.be.at.least(1);
    expect(fams.get('inference_model_info')!.samples[0].labels.model).to.not.equal('');
  });
});
