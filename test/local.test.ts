import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { main } from '../src/local/cli';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { suiteTempDir } from './helpers/temp-dir';

describe('local mode (in-process, no network)', function () {
  this.timeout(120000);
  it('local bench reports the same shape as the remote bench, with ~0 client overhead', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const cat = sharedFixture(this, 'images/chelsea.jpg');
    const out: string[] = [];
    const code = await main(['bench', '--model', model, '--normalize', 'signed', '--images', cat, '--requests', '10', '--warmup', '0'], (l) => out.push(l), () => undefined);
    expect(code).to.equal(0);
    const text = out.join('\n');
    expect(text).to.match(/closed loop: 10 OK, 0 errors/);
    expect(text).to.match(/server \(mean of 10\): queue 0\.000 decode [\d.]+ preprocess [\d.]+ inference [\d.]+/);
  });
  it('local classify names the cat', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const cat = sharedFixture(this, 'images/chelsea.jpg');
    const out: string[] = [];
    expect(await main(['classify', cat, '--model', model, '--normalize', 'signed'], (l) => out.push(l), () => undefined)).to.equal(0);
    expect(out[1]).to.match(/cat/i);
  });

  it('prints the in-process header and no "client busy" warning', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const cat = sharedFixture(this, 'images/chelsea.jpg');
    const out: string[] = [];
    const code = await main(['bench', '--model', model, '--normalize', 'signed', '--images', cat, '--requests', '8', '--warmup', '0'], (l) => out.push(...l.split('\n')), () => undefined);
    expect(code).to.equal(0);
    expect(out[0]).to.equal('local bench (in-process, no network)');
    expect(out[1]).to.match(/^  model    \S+ \(.*input 224×224/);
    expect(out[2]).to.match(/^  engine   \S+ \(/);
    expect(out[3]).to.match(/^  weights  real/);
    expect(out[4]).to.match(/^  images   1 file \(chelsea\.jpg\)/);
    expect(out[5]).to.equal('  load     closed loop, -C 1 (one request at a time, the next sent as soon as a reply arrives), 8 requests after 0 s warm-up');
    expect(out.join('\n')).not.to.match(/client busy/);
  });

  describe('--json and the exit code, as the remote verbs have them', () => {
    const tmp = suiteTempDir('rtinfer-local-');

    it('--json FILE writes the report and says "wrote FILE" on stderr; --json - puts the JSON alone on stdout', async function () {
      const model = sharedFixture(this, MOBILENET_JSON);
      const cat = sharedFixture(this, 'images/chelsea.jpg');
      const file = path.join(tmp.path, 'classify.json');
      const out: string[] = [];
      const err: string[] = [];
      expect(await main(['classify', cat, '--model', model, '--normalize', 'signed', '--json', file], (l) => out.push(l), (l) => err.push(l))).to.equal(0);
      expect(err.at(-1), 'after the model loader\'s lines').to.equal(`wrote ${file}`);
      expect(out.join('\n')).not.to.match(/wrote/);
      expect(JSON.parse(fs.readFileSync(file, 'utf8')).summary).to.deep.equal({ images: 1, ok: 1 });

      const stdout: string[] = [];
      const stderr: string[] = [];
      expect(await main(['classify', cat, '--model', model, '--normalize', 'signed', '--json', '-'], (l) => stdout.push(l), (l) => stderr.push(l))).to.equal(0);
      expect(stdout).to.have.length(1);
      expect(JSON.parse(stdout[0]).verb).to.equal('local-classify');
      expect(stderr.join('\n'), 'the human lines moved to stderr').to.match(/chelsea\.jpg — /);
      expect(stderr.join('\n')).not.to.match(/wrote/);
    });

    it('a bench whose every call failed exits 1 (runtime error), not 4, although its verdict is FAIL', async function () {
      const model = sharedFixture(this, MOBILENET_JSON);
      // Half a JPEG: its header reads (so it passes the --images check), its pixels do not decode.
      const whole = fs.readFileSync(sharedFixture(this, 'images/chelsea.jpg'));
      const half = path.join(tmp.path, 'half.jpg');
      fs.writeFileSync(half, whole.subarray(0, whole.length >> 1));
      const out: string[] = [];
      const file = path.join(tmp.path, 'bench.json');
      const code = await main(['bench', '--model', model, '--normalize', 'signed', '--images', half, '--requests', '4', '--warmup', '0', '--budget-ms', '1000', '--json', file], (l) => out.push(...l.split('\n')), () => undefined);
      const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as { summary: { ok: number; errors: number }; verdict?: { status: string } };
      expect(rep.summary, out.join('\n')).to.include({ ok: 0, errors: 4 });
      expect(rep.verdict?.status).to.equal('FAIL');
      expect(code).to.equal(1);
    });
  });
});
