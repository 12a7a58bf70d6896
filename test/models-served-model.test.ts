import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { activateTfjsCpu } from '../src/backends/tfjs-cpu';
import { exportLayersModelToOnnx } from '../src/models/export-onnx';
import { modelIOHandler } from '../src/models/tfjs-files';
import { probeTfjsNative } from '../src/backends/probe';
import { loadServedModel, type ServedModel } from '../src/models/served-model';
import { resolveModelSource, detectTfjsFormat } from '../src/models/manifest';
import { MOBILENET_DIR, MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { suiteTempDir } from './helpers/temp-dir';

/** Test-local preprocessing (the real one is src/server/preprocess.ts): resize, RGB, x/127.5 − 1. */
async function signedImage(file: string, size = 224): Promise<Float32Array> {
  const raw = await sharp(file).rotate().removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer();
  return Float32Array.from(raw, (v) => v / 127.5 - 1);
}

function topK(probs: Float32Array, k: number): number[] {
  return Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, k);
}

const CAT_CLASSES = [281, 282, 283, 284, 285]; // tabby, tiger cat, Persian, Siamese, Egyptian cat
const ESPRESSO = 967;

/**
 * A tiny TensorFlow.js *graph* model written by hand (GraphDef JSON + one weights shard), the same file
 * format tensorflowjs_converter produces: input [-1,2,2,3] → Reshape [-1,12] → MatMul [12,5] → (Softmax → Identity).
 */
function writeTinyGraphModel(dir: string, withSoftmax: boolean): string {
  fs.mkdirSync(dir, { recursive: true });
  const dim = (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) });
  const f = { type: 'DT_FLOAT' };
  const nodes: object[] = [
    { name: 'input', op: 'Placeholder', attr: { dtype: f, shape: { shape: dim(-1, 2, 2, 3) } } },
    { name: 'W', op: 'Const', attr: { dtype: f, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(12, 5) } } } },
    { name: 'flat_shape', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: dim(2) } } } },
    { name: 'flat', op: 'Reshape', input: ['input', 'flat_shape'], attr: { T: f, Tshape: { type: 'DT_INT32' } } },
    { name: 'logits', op: 'MatMul', input: ['flat', 'W'], attr: { T: f, transpose_a: { b: false }, transpose_b: { b: false } } },
  ];
  if (withSoftmax) {
    nodes.push({ name: 'probs', op: 'Softmax', input: ['logits'], attr: { T: f } });
    nodes.push({ name: 'output', op: 'Identity', input: ['probs'], attr: { T: f } });
  }
  const w = Float32Array.from({ length: 60 }, (_, i) => Math.cos(i * 0.7));
  const shape = Int32Array.from([-1, 12]);
  const bin = Buffer.concat([Buffer.from(w.buffer), Buffer.from(shape.buffer)]);
  fs.writeFileSync(path.join(dir, 'weights.bin'), bin);
  const json = {
    format: 'graph-model',
    generatedBy: 'hand-written test fixture',
    convertedBy: null,
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'W', shape: [12, 5], dtype: 'float32' }, { name: 'flat_shape', shape: [2], dtype: 'int32' }] }],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

describe('loadServedModel', () => {
  const tmp = suiteTempDir('load-test-');

  describe('the real MobileNet (../shared) on wasm', () => {
    let served: ServedModel;
    const logs: string[] = [];
    before(async function () {
      const dir = sharedFixture(this, MOBILENET_DIR);
      served = await loadServedModel({ backend: 'wasm', model: dir, normalize: 'signed', log: (m) => logs.push(m) });
    });
    after(async () => served?.engine.dispose());

    it('is detected as a tfjs layers model with 224x224x3 input, 1000 ImageNet labels, real weights', () => {
      const d = served.descriptor;
      expect(d.format).to.equal('layers');
      expect([d.inputHeight, d.inputWidth, d.inputChannels]).to.deep.equal([224, 224, 3]);
      expect(d.labels).to.have.length(1000);
      expect(d.labels[ESPRESSO]).to.equal('espresso');
      expect(d.weights).to.equal('real');
      expect(d.name).to.equal('mobilenet_v1_0.25_224');
      expect(d.parameters).to.equal(475544);
      expect(served.selection.backend).to.equal('wasm');
      expect(logs.join('\n')).to.match(/warm-up: one 224x224x3 image in/);
      expect(logs.join('\n')).to.match(/using ImageNet labels/);
    });

    it('classifies chelsea.jpg as a cat (top 3) and coffee.png as espresso (top 1), in one batch', async function () {
      const cat = await signedImage(sharedFixture(this, 'images/chelsea.jpg'));
      const coffee = await signedImage(sharedFixture(this, 'images/coffee.png'));
      const batch = new Float32Array(cat.length * 2);
      batch.set(cat, 0);
      batch.set(coffee, cat.length);
      const before = served.engine.liveTensors();
      const probs = await served.engine.predict(batch, 2);
      expect(served.engine.liveTensors()).to.equal(before);
      const catTop3 = topK(probs.subarray(0, 1000), 3);
      expect(catTop3.some((c) => CAT_CLASSES.includes(c)), `top-3 ${catTop3.map((c) => served.descriptor.labels[c])}`).to.equal(true);
      expect(topK(probs.subarray(1000), 1)[0]).to.equal(ESPRESSO);
    });
  });

  it('auto picks ONNX Runtime here, exports MobileNet once (cached), and still classifies correctly', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const cacheDir = path.join(tmp.path, 'onnx-cache');
    const logs: string[] = [];
    const first = await loadServedModel({ backend: 'auto', model, normalize: 'signed', cacheDir, log: (m) => logs.push(m) });
    try {
      expect(first.selection.backend).to.match(/^onnxruntime/);
      expect(first.engine.info.library).to.equal('onnxruntime-node');
      expect(logs.join('\n')).to.match(/onnx: exported .*\.onnx/);
      const probs = await first.engine.predict(await signedImage(sharedFixture(this, 'images/coffee.png')), 1);
      expect(topK(probs, 1)[0]).to.equal(ESPRESSO);
    } finally {
      await first.engine.dispose();
    }
    // A restart (a fresh process) must reuse the export instead of converting again.
    const script =
      `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'models', 'served-model.js'))})` +
      `.loadServedModel({ backend: 'onnxruntime', model: ${JSON.stringify(model)}, cacheDir: ${JSON.stringify(cacheDir)}, log: (m) => console.log(m) })` +
      `.then((s) => s.engine.dispose()).catch((e) => { console.log('ERROR ' + e.message); process.exitCode = 1; })`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(out).to.match(/onnx: reused cached export/);
  });

  it('serves an .onnx file with its sidecar manifest on ONNX Runtime; a tfjs backend refuses it', async function () {
    const mobilenet = sharedFixture(this, MOBILENET_JSON);
    // Make a real .onnx file from the shared MobileNet with the project's exporter.
    await activateTfjsCpu();
    const layers = await tf.loadLayersModel(modelIOHandler(mobilenet));
    const onnxFile = path.join(tmp.path, 'mnet.onnx');
    fs.writeFileSync(onnxFile, exportLayersModelToOnnx(layers));
    layers.dispose();
    fs.writeFileSync(path.join(tmp.path, 'mnet.serving.json'), JSON.stringify({ name: 'mobilenet-onnx', normalize: 'signed' }));
    const served = await loadServedModel({ backend: 'auto', model: onnxFile, log: () => {} });
    try {
      expect(served.descriptor.format).to.equal('onnx');
      expect(served.descriptor.name).to.equal('mobilenet-onnx');
      expect(served.descriptor.normalize).to.equal('signed');
      expect(served.descriptor.labels[ESPRESSO]).to.equal('espresso');
      expect(served.selection.backend).to.match(/^onnxruntime/);
      const probs = await served.engine.predict(await signedImage(sharedFixture(this, 'images/coffee.png')), 1);
      expect(topK(probs, 1)[0]).to.equal(ESPRESSO);
    } finally {
      await served.engine.dispose();
    }
    let err: Error | undefined;
    try {
      await loadServedModel({ backend: 'wasm', model: onnxFile, log: () => {} });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/--backend wasm cannot run this onnx model: only onnxruntime/);
  });

  it('an explicitly requested backend that is not installed fails, naming the package to install', async function () {
    if (probeTfjsNative('@tensorflow/tfjs-node').installed) {
      console.log('      skipped: @tensorflow/tfjs-node is installed here');
      this.skip();
    }
    let err: Error | undefined;
    try {
      await loadServedModel({ backend: 'tensorflow', log: () => {} });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/--backend tensorflow needs @tensorflow\/tfjs-node.*npm install @tensorflow\/tfjs-node/);
  });

  it('GoogLeNet on wasm is flagged synthetic with its seed', async () => {
    const served = await loadServedModel({ backend: 'wasm', log: () => {} });
    try {
      expect(served.descriptor.weights).to.equal('synthetic');
      expect(served.descriptor.weightsSource).to.equal('seed:2014');
      expect(served.descriptor.source).to.equal('builtin:googlenet');
      expect(served.descriptor.parameters).to.equal(6998552);
      expect(served.engine.numClasses).to.equal(1000);
    } finally {
      await served.engine.dispose();
    }
  });

  describe('tfjs graph models (a tiny one generated here)', () => {
    it('detects the graph format, skips ONNX Runtime in auto (logged), and reads the Softmax node', async () => {
      const file = writeTinyGraphModel(path.join(tmp.path, 'graph-softmax'), true);
      const src = await resolveModelSource(file);
      expect(src.format).to.equal('graph');
      const logs: string[] = [];
      const served = await loadServedModel({ backend: 'auto', model: path.dirname(file), labels: undefined, log: (m) => logs.push(m) });
      try {
        // wasm here; tensorflow where tfjs-node is installed: never ONNX Runtime.
        expect(served.selection.backend).to.not.match(/^onnxruntime/);
        expect(served.selection.log.join('\n')).to.match(/skip onnxruntime: available but cannot run a graph model/);
        expect(logs.join('\n')).to.match(/the output node is a softmax: output is probabilities/);
        expect(served.engine.inputShape).to.deep.equal([2, 2, 3]);
        expect(served.engine.numClasses).to.equal(5);
        expect(served.descriptor.labels).to.deep.equal(['class_0', 'class_1', 'class_2', 'class_3', 'class_4']);
        const p = await served.engine.predict(Float32Array.from({ length: 24 }, (_, i) => i / 24), 2);
        expect(p).to.have.length(10);
        expect(p.subarray(0, 5).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
      } finally {
        await served.engine.dispose();
      }
    });

    it('applies softmax to a graph model that outputs logits, and takes name/normalize/labels from a sidecar manifest', async () => {
      const file = writeTinyGraphModel(path.join(tmp.path, 'graph-logits'), false);
      fs.writeFileSync(path.join(path.dirname(file), 'labels.txt'), 'a\nb\nc\nd\ne\n');
      fs.writeFileSync(path.join(path.dirname(file), 'model.serving.json'), JSON.stringify({ name: 'tiny', normalize: 'unit', labels: 'labels.txt' }));
      const logs: string[] = [];
      const served = await loadServedModel({ backend: 'cpu', model: file, log: (m) => logs.push(m) });
      try {
        expect(logs.join('\n')).to.match(/the output node is not a softmax: output treated as logits, softmax applied/);
        expect(served.descriptor.name).to.equal('tiny');
        expect(served.descriptor.normalize).to.equal('unit');
        expect(served.descriptor.labels).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
        const p = await served.engine.predict(Float32Array.from({ length: 12 }, (_, i) => i / 12), 1);
        expect(p.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
        expect(Math.min(...p)).to.be.above(0);
      } finally {
        await served.engine.dispose();
      }
      // A flag overrides the manifest; a wrong label count is an error naming both numbers.
      const flagged = await loadServedModel({ backend: 'cpu', model: file, normalize: 'caffe', log: () => {} });
      expect(flagged.descriptor.normalize).to.equal('caffe');
      await flagged.engine.dispose();
      fs.writeFileSync(path.join(path.dirname(file), 'labels.txt'), 'a\nb\n');
      let err: Error | undefined;
      try {
        await loadServedModel({ backend: 'cpu', model: file, log: () => {} });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/labels\.txt has 2 labels but the model outputs 5 classes/);
    });

    it('--input-size must agree with a fixed model input, and a graph model cannot go to --backend onnxruntime', async function () {
      const mobilenet = sharedFixture(this, MOBILENET_JSON);
      let err: Error | undefined;
      try {
        await loadServedModel({ backend: 'wasm', model: mobilenet, inputSize: 192, log: () => {} });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/height is fixed at 224 but 192 was requested/);
      const file = writeTinyGraphModel(path.join(tmp.path, 'graph-ort'), true);
      err = undefined;
      try {
        await loadServedModel({ backend: 'onnxruntime', model: file, log: () => {} });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/--backend onnxruntime cannot run this graph model/);
    });
  });

  it('refuses unknown model names, --weights on a non-builtin, and unrecognisable model.json', async () => {
    const errorOf = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(await errorOf(loadServedModel({ backend: 'cpu', model: 'resnet50' }))).to.match(/--model resnet50: no such file or directory, and not a built-in model/);
    const file = writeTinyGraphModel(path.join(tmp.path, 'graph-w'), true);
    expect(await errorOf(loadServedModel({ backend: 'cpu', model: file, weights: tmp.path }))).to.match(/--weights applies to built-in models/);
    expect(() => detectTfjsFormat({ modelTopology: { foo: 1 } } as never, 'x.json')).to.throw(/cannot tell whether this is a tfjs layers or graph model/);
  });
});
