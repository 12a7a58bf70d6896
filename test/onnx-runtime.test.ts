import * as os from 'node:os';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { createOnnxEngine, probeOnnxRuntime } from '../src/backends/onnxruntime';
import type { Engine } from '../src/backends/engine';
import { exportLayersModelToOnnx } from '../src/models/export-onnx';
import { buildGoogLeNet } from '../src/models/googlenet';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the installed package's own version
const ORT_VERSION = (require('onnxruntime-node/package.json') as { version: string }).version;

function smallModel(): tf.LayersModel {
  return tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
    tf.layers.globalAveragePooling2d({}),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ] });
}

function images(n: number, perImage: number, seed: number): Float32Array {
  const x = new Float32Array(n * perImage);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(seed * 7919 + i * 0.37);
  return x;
}

describe('ONNX Runtime engine', function () {
  let bytes: Uint8Array;
  const engines: Engine[] = [];
  const open = async (o: Parameters<typeof createOnnxEngine>[1]): Promise<Engine> => {
    const e = await createOnnxEngine(bytes, o);
    engines.push(e);
    return e;
  };

  before(function () {
    bytes = exportLayersModelToOnnx(smallModel());
  });
  after(async function () {
    await Promise.all(engines.map((e) => e.dispose()));
  });

  it('reports its library, version, threads and execution provider', async function () {
    const e = await open({ cuda: false, threads: 1 });
    expect(e.info).to.deep.equal({ backend: 'onnxruntime', library: 'onnxruntime-node', version: ORT_VERSION, threads: 1,
      executionProvider: 'CPUExecutionProvider' });
    expect(e.inputShape).to.deep.equal([12, 12, 3]);
    expect(e.numClasses).to.equal(10);
    const dflt = await open({ cuda: false });
    expect(dflt.info.threads, 'default intra-op threads = cores available').to.equal(os.availableParallelism());
  });

  it('probe says it is installed and why CUDA is or is not usable', function () {
    const p = probeOnnxRuntime();
    expect(p.installed).to.equal(true);
    expect(p.version).to.equal(ORT_VERSION);
    expect(p.reason).to.match(/CUDA: /);
    if (!p.cuda) expect(p.reason).to.match(/no GPU visible|libonnxruntime_providers_cuda\.so/);
  });

  it('refuses the CUDA provider with the probe\'s reason when it is unusable', async function () {
    const p = probeOnnxRuntime();
    if (p.cuda) this.skip();
    let err: Error | undefined;
    await createOnnxEngine(bytes, { cuda: true }).catch((e: Error) => { err = e; });
    expect(err?.message).to.contain('onnxruntime-cuda backend is unavailable').and.contain(p.reason);
  });

  for (const worker of [false, true]) {
    it(`batch of 4 equals four single-image runs (${worker ? 'worker thread' : 'in-thread'})`, async function () {
      const e = await open({ cuda: false, threads: 2, worker });
      const per = 12 * 12 * 3;
      const x = images(4, per, 1);
      const batch = await e.predict(x, 4);
      expect(batch.length).to.equal(40);
      for (let i = 0; i < 4; i++) {
        const one = await e.predict(x.subarray(i * per, (i + 1) * per), 1);
        for (let k = 0; k < 10; k++) expect(batch[i * 10 + k]).to.be.closeTo(one[k], 1e-6);
      }
      // A longer buffer than n images needs: only the first n are read, the input is not modified.
      const before = x.slice();
      const two = await e.predict(x, 2);
      expect(Array.from(two)).to.deep.equal(Array.from(batch.subarray(0, 20)));
      expect(Array.from(x)).to.deep.equal(Array.from(before));
    });
  }

  it('rejects a short batch and a bad n with a clear message, and keeps working', async function () {
    const e = await open({ cuda: false, threads: 1 });
    const per = 12 * 12 * 3;
    await e.predict(new Float32Array(per), 2).then(() => expect.fail('accepted a short batch'),
      (err: Error) => expect(err.message).to.match(/need 864/));
    await e.predict(new Float32Array(per), 0).then(() => expect.fail('accepted n=0'),
      (err: Error) => expect(err.message).to.match(/positive integer/));
    expect((await e.predict(new Float32Array(per), 1)).length).to.equal(10);
  });

  it('rejects predict after dispose (worker thread)', async function () {
    const e = await createOnnxEngine(bytes, { cuda: false, threads: 1, worker: true });
    await e.dispose();
    await e.predict(new Float32Array(12 * 12 * 3), 1).then(() => expect.fail('predicted after dispose'),
      (err: Error) => expect(err.message).to.match(/exited/));
  });

  it('an unloadable model fails with ONNX Runtime\'s reason', async function () {
    let err: Error | undefined;
    await createOnnxEngine(new Uint8Array([1, 2, 3, 4]), { cuda: false }).catch((e: Error) => { err = e; });
    expect(err?.message).to.match(/ONNX Runtime could not load a 4-byte model/);
  });

  it('keeps the event loop responsive while GoogLeNet runs (worker thread)', async function () {
    const model = buildGoogLeNet();
    bytes = exportLayersModelToOnnx(model);
    model.dispose();
    const e = await open({ cuda: false, threads: 2, worker: true });
    const x = images(4, 224 * 224 * 3, 3);
    await e.predict(x, 4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const t0 = performance.now();
    await e.predict(x, 4);
    const ms = performance.now() - t0;
    clearInterval(timer);
    // In-thread, ORT's synchronous run would allow no timer tick at all during the batch; how many a worker
    // allows depends on how busy the machine is, so one is the behaviour, not a count.
    expect(ticks, `timer ticks during a ${ms.toFixed(0)} ms inference`).to.be.at.least(1);
  });
});
