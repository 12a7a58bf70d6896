import * as fs from 'node:fs';
import * as os from 'node:os';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { createOnnxEngine, probeOnnxRuntime } from '../src/backends/onnxruntime';
import { sampleThreads } from '../bench/thread-cpu';
import { cpuPlan } from '../src/backends/cpu-plan';
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
      instances: 1, plan: 'set by flags: 1 session(s) × 1 thread(s)', executionProvider: 'CPUExecutionProvider' });
    expect(e.inputShape).to.deep.equal([12, 12, 3]);
    expect(e.numClasses).to.equal(10);
    const dflt = await open({ cuda: false });
    const plan = cpuPlan(os.availableParallelism());
    expect({ threads: dflt.info.threads, instances: dflt.info.instances, solo: dflt.info.soloThreads ?? 0 }, 'default: the plan for the cores available')
      .to.deep.equal({ threads: plan.threads, instances: plan.instances, solo: plan.soloThreads });
    const inThread = await open({ cuda: false, worker: false });
    expect(inThread.info.threads, 'in-thread (raw measurements): one session with every core').to.equal(os.availableParallelism());
  });

  it('a pool of instances with a solo session gives every batch the same answer as one session', async function () {
    const one = await open({ cuda: false, threads: 1 });
    const pool = await open({ cuda: false, instances: 2, threads: 1, soloThreads: 2 });
    expect(pool.info).to.include({ instances: 2, threads: 1, soloThreads: 2 });
    const per = 12 * 12 * 3;
    const batches = [0.1, 0.5, 0.9, 0.3, 0.7].map((v) => new Float32Array(2 * per).fill(v));
    const want = await Promise.all(batches.map((b) => one.predict(b, 2)));
    // All at once: the solo session takes the first, the two instances the rest.
    const got = await Promise.all(batches.map((b) => pool.predict(b, 2)));
    got.forEach((g, i) => expect(Array.from(g)).to.deep.equal(Array.from(want[i])));
    expect(Array.from(await pool.predict(batches[0], 2)), 'alone again').to.deep.equal(Array.from(want[0]));
  });

  it('names the threads it starts, so top -H and bench:perf tell inference from the event loop (Linux)', async function () {
    if (!fs.existsSync('/proc/thread-self/comm')) {
      console.log('      skipped: no /proc/thread-self (thread names are a Linux feature)');
      this.skip();
    }
    const threadNames = (): Map<number, string> => new Map([...sampleThreads(process.pid).threads].map(([tid, t]) => [tid, t.name]));
    const before = threadNames();
    const mainName = before.get(process.pid);
    await open({ cuda: false, instances: 2, threads: 1, soloThreads: 2 });
    const started = [...threadNames()].filter(([tid]) => !before.has(tid)).map(([, name]) => name);
    expect(started).to.include.members(['ort-worker-1', 'ort-worker-2', 'ort-solo']);
    // ONNX Runtime's own pool threads inherit the name of the worker that made them.
    expect(started.filter((n) => n === 'ort-solo').length, 'the 2-thread solo session: its worker and one pool thread').to.be.at.least(2);
    expect(threadNames().get(process.pid), 'the event loop keeps its name').to.equal(mainName);
  });

  it('refuses several instances in-thread, where sessions cannot run at the same time', async function () {
    let err: unknown;
    try {
      await open({ cuda: false, worker: false, instances: 2 });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/several engine instances need worker mode/);
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
