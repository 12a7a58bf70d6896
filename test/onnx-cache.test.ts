import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { createOnnxEngine } from '../src/backends/onnxruntime';
import { onnx } from 'onnx-proto';
import { EXPORTER_VERSION } from '../src/models/export-onnx';
import { exportCached, exportKey } from '../src/models/onnx-cache';
import { suiteTempDir } from './helpers/temp-dir';

function model(): tf.LayersModel {
  return tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu',
      biasInitializer: 'ones', name: 'c' }),
    tf.layers.flatten({ name: 'f' }),
    tf.layers.dense({ units: 5, activation: 'softmax', name: 'd' }),
  ] });
}

describe('ONNX export cache', function () {
  const dir = suiteTempDir('onnx-cache-test-');

  it('exports once, then hits without rewriting the file; the cached model runs', async function () {
    const m = model();
    const first = await exportCached(m, path.join(dir.path, 'nested'));
    expect(first.cacheHit).to.equal(false);
    expect(first.path).to.equal(path.join(dir.path, 'nested', `${first.key}.onnx`));
    expect(first.key).to.match(/^[0-9a-f]{64}$/);
    const mtime = fs.statSync(first.path).mtimeMs;
    expect(fs.readdirSync(path.join(dir.path, 'nested')), 'no temporary file left behind').to.deep.equal([`${first.key}.onnx`]);

    const second = await exportCached(m, path.join(dir.path, 'nested'));
    expect(second.cacheHit).to.equal(true);
    expect(second.key).to.equal(first.key);
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).to.equal(true);
    expect(fs.statSync(first.path).mtimeMs, 'file not rewritten').to.equal(mtime);

    const engine = await createOnnxEngine(second.path, { cuda: false, threads: 1 });
    try {
      const x = new Float32Array(8 * 8 * 3).fill(0.5);
      const ref = (m.predict(tf.tensor4d(x, [1, 8, 8, 3])) as tf.Tensor).dataSync();
      const got = await engine.predict(x, 1);
      got.forEach((v, i) => expect(v).to.be.closeTo(ref[i], 1e-5));
    } finally {
      await engine.dispose();
    }
  });

  it('misses when a weight changes (same architecture)', async function () {
    const m = model();
    const a = await exportCached(m, dir.path);
    const dense = m.getLayer('d');
    const [kernel, bias] = dense.getWeights();
    const changed = bias.bufferSync();
    changed.set(changed.get(0) + 1e-3, 0);
    dense.setWeights([kernel, changed.toTensor()]);
    const b = await exportCached(m, dir.path);
    expect(b.cacheHit).to.equal(false);
    expect(b.key).to.not.equal(a.key);
    expect(fs.existsSync(a.path) && fs.existsSync(b.path)).to.equal(true);
  });

  it('never reuses an export from another exporter version (version 1 wrote Dense as Gemm, which OpenCV refuses)', async function () {
    const m = model();
    const current = await exportCached(m, dir.path);
    expect(EXPORTER_VERSION).to.not.equal('1');
    expect(exportKey(m, '1')).to.not.equal(current.key);
    const ops = onnx.ModelProto.decode(current.bytes).graph!.node!.map((n) => n.opType);
    expect(ops).to.include('MatMul').and.not.include('Gemm');
  });
});
