import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { activateTfjsCpu } from '../src/backends/tfjs-cpu';
import { activateTfjsWasm } from '../src/backends/tfjs-wasm';
import { buildBuiltin, findBuiltin } from '../src/models/catalog';
import { buildGoogLeNet, buildGoogLeNetArchitecture, applySyntheticWeights } from '../src/models/googlenet';
import { saveLayersModelToDir } from '../src/models/tfjs-files';
import { MOBILENET_DIR, sharedFixture } from './helpers/fixtures';

function weightsHash(model: tf.LayersModel): string {
  const h = createHash('sha256');
  for (const t of model.getWeights()) {
    const d = t.dataSync() as Float32Array;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

describe('GoogLeNet (Inception v1) architecture and synthetic weights', () => {
  let model: tf.LayersModel;
  before(async () => {
    await activateTfjsCpu();
    model = buildGoogLeNet();
  });
  after(() => model.dispose());

  it('has the paper\'s 9 inception modules in order, 3a … 5b', () => {
    const modules = model.layers.map((l) => l.name).filter((n) => /^inception_\w+_output$/.test(n));
    expect(modules).to.deep.equal(['3a', '3b', '4a', '4b', '4c', '4d', '4e', '5a', '5b'].map((id) => `inception_${id}_output`));
  });

  it('has ~7 M parameters (6,998,552: Table 1 with biases, no auxiliary classifiers)', () => {
    const n = model.countParams();
    expect(n).to.be.within(6.5e6, 7.5e6);
    expect(n).to.equal(6998552);
  });

  it('produces the paper\'s feature-map sizes: 112, 56, 28, 14, 7, and 1024 channels before the classifier', () => {
    const shape = (name: string) => model.getLayer(name).outputShape as number[];
    expect(shape('conv1_7x7_s2')).to.deep.equal([null, 112, 112, 64]);
    expect(shape('pool1_3x3_s2')).to.deep.equal([null, 56, 56, 64]);
    expect(shape('inception_3b_output')).to.deep.equal([null, 28, 28, 480]);
    expect(shape('inception_4e_output')).to.deep.equal([null, 14, 14, 832]);
    expect(shape('inception_5b_output')).to.deep.equal([null, 7, 7, 1024]);
    expect(shape('prob')).to.deep.equal([null, 1000]);
  });

  it('same seed gives bit-identical weights; a different seed gives different weights', () => {
    const again = buildGoogLeNetArchitecture();
    applySyntheticWeights(again, 2014);
    expect(weightsHash(again)).to.equal(weightsHash(model));
    applySyntheticWeights(again, 2015);
    expect(weightsHash(again)).to.not.equal(weightsHash(model));
    again.dispose();
  });

  it('outputs a 1000-way softmax that sums to 1, not saturated, on wasm', async () => {
    await activateTfjsWasm();
    const m = buildGoogLeNet();
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 3);
    const p = m.predict(x) as tf.Tensor;
    const values = (await p.array()) as number[][];
    tf.dispose([x, p]);
    m.dispose();
    await activateTfjsCpu();
    for (const row of values) {
      expect(row).to.have.length(1000);
      expect(row.every(Number.isFinite)).to.equal(true);
      expect(row.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-4);
      // Not a one-hot: synthetic weights are scaled so the softmax stays informative.
      expect(Math.max(...row)).to.be.below(0.99);
    }
  });
});

describe('GoogLeNet --weights (tfjs layers format)', () => {
  let dir: string;
  before(async () => {
    await activateTfjsCpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'googlenet-weights-'));
    const m = buildGoogLeNet(7);
    await saveLayersModelToDir(m, dir);
    m.dispose();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads saved weights into the architecture and reports them as real', async () => {
    const logs: string[] = [];
    const built = await buildBuiltin(findBuiltin('googlenet')!, { weights: dir, log: (m) => logs.push(m) });
    const reference = buildGoogLeNet(7);
    expect(weightsHash(built.model)).to.equal(weightsHash(reference));
    expect(built.weights).to.equal('real');
    expect(built.weightsSource).to.equal(path.join(dir, 'model.json'));
    expect(logs.join('\n')).to.match(/loaded 116 tensors .* \(matched by name\)/);
    built.model.dispose();
    reference.dispose();
  });

  it('refuses weights whose shapes do not fit, naming the weight and both shapes', async () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'googlenet-bad-'));
    try {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const specs = json.weightsManifest[0].weights as Array<{ name: string }>;
      // Swap the names of conv1's and conv2's kernels: same bytes, wrong shapes for those names.
      const a = specs.findIndex((s) => s.name === 'conv1_7x7_s2/kernel');
      const b = specs.findIndex((s) => s.name === 'conv2_3x3/kernel');
      [specs[a].name, specs[b].name] = [specs[b].name, specs[a].name];
      fs.writeFileSync(path.join(bad, 'model.json'), JSON.stringify(json));
      fs.copyFileSync(path.join(dir, 'weights.bin'), path.join(bad, 'weights.bin'));
      let err: Error | undefined;
      try {
        await buildBuiltin(findBuiltin('googlenet')!, { weights: bad });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/weight "conv1_7x7_s2\/kernel" has shape \[3, 3, 64, 192\] but googlenet's "conv1_7x7_s2\/kernel" needs \[7, 7, 3, 64\]/);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('refuses another architecture\'s weights (MobileNet) and a directory without model.json', async function () {
    const mobilenet = sharedFixture(this, MOBILENET_DIR);
    let err: Error | undefined;
    try {
      await buildBuiltin(findBuiltin('googlenet')!, { weights: mobilenet });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/has 137 weight tensors, googlenet has 116, and the names do not match/);
    err = undefined;
    try {
      await buildBuiltin(findBuiltin('googlenet')!, { weights: os.tmpdir() });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/model\.json not found; expected a directory with a tfjs layers model\.json/);
  });
});
