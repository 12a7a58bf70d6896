import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { createTfjsEngine, layersModelEndsInSoftmax, graphEndsInSoftmax, resolveInputShape } from '../src/backends/tfjs';
import { activateTfjsCpu } from '../src/backends/tfjs-cpu';
import { activateTfjsWasm } from '../src/backends/tfjs-wasm';

/** A small conv classifier: 8x8x3 → conv → global pool → dense(5) with the given output activation. */
function tinyModel(head: 'logits' | 'dense-softmax' | 'softmax-layer' | 'activation-reshape'): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const dense = (activation?: 'softmax') => tf.layers.dense({ units: 5, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), biasInitializer: 'ones' });
  if (head === 'logits') x = dense().apply(x) as tf.SymbolicTensor;
  if (head === 'dense-softmax') x = dense('softmax').apply(x) as tf.SymbolicTensor;
  if (head === 'softmax-layer') x = tf.layers.softmax({}).apply(dense().apply(x)) as tf.SymbolicTensor;
  if (head === 'activation-reshape') {
    x = tf.layers.activation({ activation: 'softmax' }).apply(dense().apply(x)) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [5] }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x });
}

function rows(values: Float32Array, classes: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += classes) out.push(Array.from(values.subarray(i, i + classes)));
  return out;
}

describe('tfjs engine', () => {
  it('reads softmax from the model structure (Dense softmax, Softmax layer, Activation + Reshape as in MobileNet)', () => {
    expect(layersModelEndsInSoftmax(tinyModel('logits'))).to.equal(false);
    expect(layersModelEndsInSoftmax(tinyModel('dense-softmax'))).to.equal(true);
    expect(layersModelEndsInSoftmax(tinyModel('softmax-layer'))).to.equal(true);
    expect(layersModelEndsInSoftmax(tinyModel('activation-reshape'))).to.equal(true);
    const topo = { node: [{ name: 'x', op: 'Placeholder' }, { name: 's', op: 'Softmax', input: ['x'] }, { name: 'out', op: 'Identity', input: ['s:0'] }] };
    expect(graphEndsInSoftmax(topo, 'out')).to.equal(true);
    expect(graphEndsInSoftmax(topo, 'x')).to.equal(false);
    expect(graphEndsInSoftmax(undefined, 'out')).to.equal(undefined);
  });

  it('applies softmax to a logits model and matches tfjs run directly, for every row of a batch', async () => {
    const activation = await activateTfjsCpu();
    const model = tinyModel('logits');
    const engine = await createTfjsEngine(model, { activation });
    expect(engine.softmax.applied).to.equal(true);
    expect(engine.numClasses).to.equal(5);
    const n = 3;
    const batch = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => Math.sin(i) * 0.9);
    const got = rows(await engine.predict(batch, n), 5);
    const want = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(batch, [n, 8, 8, 3])) as tf.Tensor).arraySync() as number[][]);
    expect(got).to.have.length(n);
    for (let r = 0; r < n; r++) {
      for (let k = 0; k < 5; k++) expect(got[r][k]).to.be.closeTo(want[r][k], 1e-6);
      expect(got[r].reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
    }
    // Rows differ: the images differ, so must their probabilities.
    expect(got[0]).to.not.deep.equal(got[1]);
    await engine.dispose();
  });

  it('does not apply softmax twice to a model that ends in one', async () => {
    const activation = await activateTfjsCpu();
    const model = tinyModel('activation-reshape');
    const engine = await createTfjsEngine(model, { activation });
    expect(engine.softmax.applied).to.equal(false);
    const batch = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => (i % 7) / 7);
    const got = await engine.predict(batch, 1);
    const want = tf.tidy(() => (model.predict(tf.tensor4d(batch, [1, 8, 8, 3])) as tf.Tensor).dataSync());
    for (let k = 0; k < 5; k++) expect(got[k]).to.be.closeTo(want[k], 1e-6);
    await engine.dispose();
  });

  it('leaks no tensors across predicts, reads only its slice of a larger buffer, and rejects short batches', async () => {
    const activation = await activateTfjsWasm();
    const engine = await createTfjsEngine(tinyModel('logits'), { activation });
    const per = 8 * 8 * 3;
    const big = Float32Array.from({ length: per * 4 }, (_, i) => (i % 13) / 13);
    await engine.predict(big, 2);
    const before = engine.liveTensors();
    for (let i = 0; i < 5; i++) await engine.predict(big, 1 + (i % 4));
    expect(engine.liveTensors()).to.equal(before);
    // n=2 from a 4-image buffer equals the first two images on their own.
    const a = await engine.predict(big, 2);
    const b = await engine.predict(big.slice(0, per * 2), 2);
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    let err: Error | undefined;
    try {
      await engine.predict(big, 5);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/batch has 768 floats; 5 images of 8x8x3 need 960/);
    expect(engine.liveTensors()).to.equal(before);
    expect(engine.info.backend).to.equal('wasm');
    expect(engine.info.executionProvider).to.match(/^tfjs-wasm \((SIMD|no SIMD), 1 thread/);
    await engine.dispose();
  });

  it('input shape: fixed dimensions win over nothing, contradictions and unknowns are errors', () => {
    expect(resolveInputShape([224, 224, 3], undefined)).to.deep.equal([224, 224, 3]);
    expect(resolveInputShape([undefined, undefined, 3], [192, 192, 3])).to.deep.equal([192, 192, 3]);
    expect(() => resolveInputShape([224, 224, 3], [192, 192, 3])).to.throw(/height is fixed at 224 but 192 was requested/);
    expect(() => resolveInputShape([undefined, undefined, 3], undefined)).to.throw(/dynamic; pass --input-size/);
  });
});
