import { expect } from 'chai';
import { main } from '../src/local/cli';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

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
});
