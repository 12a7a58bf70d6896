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
});
