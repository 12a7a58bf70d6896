/**
 * A real (tiny) tfjs model behind the Engine interface, for testing the batcher and service before and
 * independently of the model loaders. It really computes: global average pooling over an RGB image, then a
 * dense layer with fixed weights [[k,0,0],[0,k,0],[0,0,k]] and softmax, so a mostly-red image gets class 0,
 * green class 1, blue class 2. Tests use that to check each image's probabilities come back in its own slot.
 */
import * as tf from '@tensorflow/tfjs';
import type { Engine } from '../../src/backends/engine';

export const COLOUR_LABELS = ['red', 'green', 'blue'];

export async function createColourEngine(size = 16, o: { delayMs?: number } = {}): Promise<Engine & { calls: number[] }> {
  await tf.setBackend('cpu');
  await tf.ready();
  const model = tf.sequential({
    layers: [
      tf.layers.globalAveragePooling2d({ inputShape: [size, size, 3], dataFormat: 'channelsLast' }),
      tf.layers.dense({ units: 3, activation: 'softmax', useBias: false, kernelInitializer: 'zeros' }),
    ],
  });
  // Inputs arrive normalised 'signed' (−1..1): a scale of 4 makes a pure colour win clearly.
  model.layers[1].setWeights([tf.tensor2d([[4, 0, 0], [0, 4, 0], [0, 0, 4]])]);
  const calls: number[] = [];
  return {
    calls,
    info: { backend: 'cpu', library: '@tensorflow/tfjs-backend-cpu', version: tf.version.tfjs, threads: 0, executionProvider: 'tfjs-cpu' },
    inputShape: [size, size, 3],
    numClasses: 3,
    async predict(batch: Float32Array, n: number): Promise<Float32Array> {
      calls.push(n);
      if (batch.length !== n * size * size * 3) throw new Error(`batch has ${batch.length} values for n=${n}`);
      if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
      const out = tf.tidy(() => model.predict(tf.tensor4d(batch, [n, size, size, 3])) as tf.Tensor);
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    liveTensors: () => tf.memory().numTensors,
    async dispose() {
      model.dispose();
    },
  };
}

/** A size×size all-red RGB image: the colour engine classifies it as 'red'. */
export function redImage(size = 16): Uint8Array {
  return new Uint8Array(size * size * 3).map((_, i) => (i % 3 === 0 ? 255 : 0));
}
