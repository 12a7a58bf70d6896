import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { createOnnxEngine } from '../src/backends/onnxruntime';
import type { Engine } from '../src/backends/engine';
import { exportLayersModelToOnnx } from '../src/models/export-onnx';
import { buildGoogLeNet } from '../src/models/googlenet';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

/** Loads a tfjs layers model.json + weight shards from disk (plain @tensorflow/tfjs has no file:// handler). */
async function loadLayersFile(jsonPath: string): Promise<tf.LayersModel> {
  const dir = path.dirname(jsonPath);
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as {
    modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const data = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
}

/** Deterministic uniform floats in [lo, hi) (mulberry32). */
function seeded(seed: number): (lo: number, hi: number) => number {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  };
}

function randomImages(n: number, [h, w, c]: readonly number[], seed: number): Float32Array {
  const r = seeded(seed);
  const x = new Float32Array(n * h * w * c);
  for (let i = 0; i < x.length; i++) x[i] = r(-1, 1);
  return x;
}

/** Replaces every weight with seeded random values (variances kept positive), so no layer is an identity. */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const r = seeded(seed);
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    layer.setWeights(ws.map((v) => {
      const shape = v.shape as number[]; // weights always have a static shape
      const size = shape.reduce((a, b) => a * b, 1);
      const variance = v.originalName.endsWith('moving_variance');
      const vals = Float32Array.from({ length: size }, () => (variance ? r(0.5, 1.5) : r(-0.5, 0.5)));
      return tf.tensor(vals, shape);
    }));
  }
}

function topK(p: Float32Array, offset: number, classes: number, k: number): number[] {
  return Array.from(p.subarray(offset, offset + classes), (v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

/** Runs `x` through tfjs and through ORT; asserts max |Δp| ≤ 1e-4 and the same top-5 for every image. */
async function expectSameAsTfjs(model: tf.LayersModel, engine: Engine, x: Float32Array, n: number): Promise<void> {
  const [h, w, c] = engine.inputShape;
  const ref = tf.tidy(() => (model.predict(tf.tensor4d(x, [n, h, w, c])) as tf.Tensor).dataSync() as Float32Array);
  const got = await engine.predict(x, n);
  expect(got.length).to.equal(ref.length);
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(ref[i] - got[i]));
  expect(maxAbs, 'max |p_tfjs - p_onnx|').to.be.at.most(1e-4);
  const classes = engine.numClasses;
  for (let i = 0; i < n; i++) {
    expect(topK(got, i * classes, classes, 5), `top-5 of image ${i}`).to.deep.equal(topK(ref, i * classes, classes, 5));
  }
}

/**
 * Every layer the exporter supports, on odd and even spatial sizes, so TF's asymmetric "same" padding with
 * stride 2 is exercised both ways (k=3, s=2: 15 → 8 pads 1 + 1, 16 → 8 pads 0 + 1).
 */
function kitchenSinkModel(): tf.LayersModel {
  const input = tf.input({ shape: [15, 16, 3] });
  const padded = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(input) as tf.SymbolicTensor; // 18x17
  const c1 = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' })
    .apply(padded) as tf.SymbolicTensor; // 9x9
  const bn = tf.layers.batchNormalization().apply(c1) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2,
    activation: 'relu6' }).apply(bn) as tf.SymbolicTensor; // 5x5x12
  const c2 = tf.layers.conv2d({ filters: 12, kernelSize: [2, 3], strides: [1, 2], padding: 'same', activation: 'selu' })
    .apply(input) as tf.SymbolicTensor; // 15x8x12
  const c2p = tf.layers.maxPooling2d({ poolSize: 3, strides: [3, 2], padding: 'same' }).apply(c2) as tf.SymbolicTensor; // 5x4
  const c2q = tf.layers.zeroPadding2d({ padding: [[0, 0], [1, 0]] }).apply(c2p) as tf.SymbolicTensor; // 5x5x12
  const sum = tf.layers.add().apply([dw, c2q]) as tf.SymbolicTensor;
  const mx = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(sum) as tf.SymbolicTensor; // 3x3
  const avg = tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(sum) as tf.SymbolicTensor;
  const pw = tf.layers.conv2d({ filters: 4, kernelSize: 1, strides: 2, padding: 'valid', activation: 'sigmoid', useBias: false })
    .apply(sum) as tf.SymbolicTensor;
  const sep = tf.layers.separableConv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' })
    .apply(sum) as tf.SymbolicTensor;
  const avgValid = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid' }).apply(
    tf.layers.cropping2D({ cropping: [[0, 1], [1, 0]] }).apply(sum) as tf.SymbolicTensor) as tf.SymbolicTensor; // 3x3
  const cat = tf.layers.concatenate().apply([mx, avg, pw, sep, avgValid]) as tf.SymbolicTensor; // 3x3x45
  const act = tf.layers.reLU({ maxValue: 4 }).apply(
    tf.layers.leakyReLU({ alpha: 0.2 }).apply(cat) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const flat = tf.layers.dense({ units: 16, activation: 'elu' })
    .apply(tf.layers.flatten().apply(act) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const reshaped = tf.layers.reshape({ targetShape: [9, 45] }).apply(act) as tf.SymbolicTensor;
  const perPos = tf.layers.dense({ units: 2, activation: 'softplus' }).apply(reshaped) as tf.SymbolicTensor; // Dense on rank 3
  const perPosFlat = tf.layers.reshape({ targetShape: [18] }).apply(perPos) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(act) as tf.SymbolicTensor;
  const gmp = tf.layers.globalMaxPooling2d({}).apply(act) as tf.SymbolicTensor;
  const heightCat = tf.layers.concatenate({ axis: 1 }).apply([mx, avg]) as tf.SymbolicTensor; // 6x3x12
  const hcFlat = tf.layers.flatten().apply(tf.layers.conv2d({ filters: 2, kernelSize: [6, 1] })
    .apply(heightCat) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const vec = tf.layers.concatenate().apply([flat, perPosFlat, gap, gmp, hcFlat]) as tf.SymbolicTensor;
  const bn2 = tf.layers.batchNormalization().apply(tf.layers.dropout({ rate: 0.5 }).apply(vec) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const hidden = tf.layers.activation({ activation: 'swish' }).apply(
    tf.layers.dense({ units: 24, activation: 'hardSigmoid' }).apply(bn2) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 20 }).apply(hidden) as tf.SymbolicTensor;
  const probs = tf.layers.softmax({ axis: -1 }).apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs, name: 'kitchen_sink' });
}

describe('ONNX export: tfjs layers → ONNX Runtime gives the same probabilities', function () {
  let previousBackend = '';
  const engines: Engine[] = [];
  const engineFor = async (model: tf.LayersModel): Promise<Engine> => {
    const e = await createOnnxEngine(exportLayersModelToOnnx(model), { cuda: false, threads: 2 });
    engines.push(e);
    return e;
  };

  before(async function () {
    previousBackend = tf.getBackend();
    // Reference: tfjs' plain-JS cpu backend (float32, no fused kernels).
    await tf.setBackend('cpu');
  });
  after(async function () {
    await Promise.all(engines.map((e) => e.dispose()));
    if (previousBackend && previousBackend !== 'cpu') await tf.setBackend(previousBackend);
  });

  it('every supported layer, odd/even sizes, stride-2 "same" padding (batch of 3)', async function () {
    const model = kitchenSinkModel();
    randomizeWeights(model, 7);
    const engine = await engineFor(model);
    expect(engine.inputShape).to.deep.equal([15, 16, 3]);
    expect(engine.numClasses).to.equal(20);
    await expectSameAsTfjs(model, engine, randomImages(3, [15, 16, 3], 11), 3);
  });

  it('a Sequential model', async function () {
    const model = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [9, 10, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same' }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 7, activation: 'softmax' }),
    ] });
    randomizeWeights(model, 3);
    await expectSameAsTfjs(model, await engineFor(model), randomImages(2, [9, 10, 2], 5), 2);
  });

  it('the real MobileNet v1 0.25 (../shared)', async function () {
    const model = await loadLayersFile(sharedFixture(this, MOBILENET_JSON));
    const engine = await engineFor(model);
    expect(engine.inputShape).to.deep.equal([224, 224, 3]);
    expect(engine.numClasses).to.equal(1000);
    await expectSameAsTfjs(model, engine, randomImages(2, [224, 224, 3], 1), 2);
    model.dispose();
  });

  it('GoogLeNet with synthetic weights', async function () {
    const model = buildGoogLeNet();
    const engine = await engineFor(model);
    expect(engine.numClasses).to.equal(1000);
    await expectSameAsTfjs(model, engine, randomImages(1, [224, 224, 3], 2), 1);
    model.dispose();
  });
});

describe('ONNX export refuses what it cannot express exactly', function () {
  it('an LSTM layer, naming it', function () {
    const input = tf.input({ shape: [4, 4, 3] });
    const seq = tf.layers.reshape({ targetShape: [16, 3] }).apply(input) as tf.SymbolicTensor;
    const lstm = tf.layers.lstm({ units: 5, name: 'my_lstm' }).apply(seq) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(lstm) as tf.SymbolicTensor;
    expect(() => exportLayersModelToOnnx(tf.model({ inputs: input, outputs: out })))
      .to.throw(/layer "my_lstm" \(LSTM\).*not supported/);
  });

  it('a dilated Conv2D, naming it', function () {
    const model = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, dilationRate: 2, name: 'atrous' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ] });
    expect(() => exportLayersModelToOnnx(model)).to.throw(/layer "atrous" \(Conv2D\).*dilation/);
  });

  it('an unsupported activation, naming the layer', function () {
    const model = tf.sequential({ layers: [
      tf.layers.flatten({ inputShape: [2, 2, 1] }),
      tf.layers.dense({ units: 3, activation: 'gelu_new' as 'linear', name: 'fancy' }),
    ] });
    expect(() => exportLayersModelToOnnx(model)).to.throw(/layer "fancy" \(Dense\).*activation "gelu_new"/);
  });

  it('a model without a fixed-size image input', function () {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, activation: 'softmax' })] });
    expect(() => exportLayersModelToOnnx(model)).to.throw(/image input \[N,H,W,C\]/);
  });
});
