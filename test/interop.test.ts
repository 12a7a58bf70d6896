/**
 * Clients that are not ours: `buf curl` (Go, connect-go's gRPC, schema from server reflection) and a Python
 * grpcio (C-core) client that encodes protobuf by hand. If these work, a user's grpcurl or own stubs do too.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startServer, type RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

const run = promisify(execFile);
const PROJECT = path.resolve(__dirname, '..', '..');
const BUF = path.join(PROJECT, 'node_modules', '.bin', 'buf');
const PYTHON = '/usr/bin/python3';
const PY_CLIENT = path.join(PROJECT, 'test', 'interop-client.py');
const ESPRESSO = 967;
const DOMESTIC_CATS = [281, 282, 283, 284, 285];

/** Skips (printing why) when a tool is missing; under CI=true a missing tool is a failure. */
function requireTool(ctx: Mocha.Context, ok: boolean, reason: string): void {
  if (ok) return;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must have it`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

async function bufCurl(url: string, body: string | undefined, extra: string[] = []): Promise<unknown> {
  const args = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...extra];
  let tmp: string | undefined;
  if (body !== undefined) {
    // Request bodies with an image are too large for argv: pass them as a file.
    tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bufcurl-')), 'req.json');
    fs.writeFileSync(tmp, body);
    args.push('-d', `@${tmp}`);
  }
  args.push(url);
  try {
    const { stdout } = await run(BUF, args, { maxBuffer: 64 << 20, timeout: 60_000 });
    return extra.includes('--list-methods') ? stdout.trim().split('\n') : JSON.parse(stdout);
  } finally {
    if (tmp) fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  }
}

describe('interop: other clients against the real server', function () {
  let server: RunningServer;
  let base: string;
  let chelsea: string;
  let coffee: string;

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    chelsea = sharedFixture(this, 'images/chelsea.jpg');
    coffee = sharedFixture(this, 'images/coffee.png');
    server = await startServer({ drainDelayMs: 0, port: 0, model, normalize: 'signed', logLevel: 'error' });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => server?.shutdown(2000));

  describe('buf curl through server reflection (no proto file)', () => {
    before(function () {
      requireTool(this, fs.existsSync(BUF), `buf not found at ${BUF} (npm install installs @bufbuild/buf)`);
    });

    it('lists the methods', async () => {
      const methods = (await bufCurl(base, undefined, ['--list-methods'])) as string[];
      expect(methods).to.include.members([
        'inference.v1.InferenceService/Classify',
        'inference.v1.InferenceService/Ping',
        'grpc.health.v1.Health/Check',
      ]);
    });

    it('calls Ping and gets the payload echoed (JSON, base64 bytes)', async () => {
      const r = (await bufCurl(`${base}/inference.v1.InferenceService/Ping`, JSON.stringify({ seq: '7', payload: 'aGVsbG8=', echo_payload: true, response_bytes: 16 }))) as Record<string, unknown>;
      expect(r).to.include({ seq: '7', payload: 'aGVsbG8=', payloadBytesReceived: 5 });
      expect(Buffer.from(r.padding as string, 'base64').length).to.equal(16);
    });

    it('calls Classify with a base64 image over IPv6 and gets espresso', async () => {
      const body = JSON.stringify({ image: fs.readFileSync(coffee).toString('base64'), top_k: 2, request_id: 'buf-1' });
      const r = (await bufCurl(`http://[::1]:${server.port}/inference.v1.InferenceService/Classify`, body)) as {
        requestId: string;
        predictions: Array<{ classIndex: number; label: string }>;
        timing: Record<string, string | number>;
      };
      expect(r.requestId).to.equal('buf-1');
      expect(r.predictions[0].classIndex).to.equal(ESPRESSO);
      expect(Number(r.timing.inferenceNanos)).to.be.greaterThan(0);
    });

    it('checks health', async () => {
      expect(await bufCurl(`${base}/grpc.health.v1.Health/Check`, '{}')).to.deep.equal({ status: 'SERVING' });
    });
  });

  describe('Python grpcio (C-core) client with hand-encoded protobuf', () => {
    before(function () {
      let ok = false;
      try {
        require('node:child_process').execFileSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' });
        ok = true;
      } catch {
        ok = false;
      }
      requireTool(this, ok, `${PYTHON} with grpcio not available (apt-get install python3-grpcio)`);
    });

    async function py(target: string, image: string, topK: number): Promise<{ predictions?: Array<{ class_index: number; label: string }>; code?: string; details?: string; model?: string }> {
      const { stdout } = await run(PYTHON, [PY_CLIENT, target, image, String(topK)], { timeout: 60_000 });
      return JSON.parse(stdout);
    }

    it('classifies chelsea.jpg (a cat in the top 3) and coffee.png (espresso)', async () => {
      const cat = await py(`127.0.0.1:${server.port}`, chelsea, 3);
      expect(cat.predictions!.some((p) => DOMESTIC_CATS.includes(p.class_index)), JSON.stringify(cat)).to.equal(true);
      expect(cat.model).to.equal('mobilenet_v1_0.25_224');
      const cup = await py(`[::1]:${server.port}`, coffee, 1);
      expect(cup.predictions![0]).to.deep.include({ class_index: ESPRESSO });
      expect(cup.predictions![0].label).to.match(/espresso/);
    });

    it('gets INVALID_ARGUMENT with the message for a truncated JPEG', async function () {
      const r = await py(`127.0.0.1:${server.port}`, sharedFixture(this, 'images/truncated.jpg'), 1);
      expect(r.code).to.equal('INVALID_ARGUMENT');
      expect(r.details).to.match(/premature end of JPEG|corrupt/);
    });
  });
});
