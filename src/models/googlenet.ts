/**
 * GoogLeNet (Inception v1), Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv 1409.4842),
 * Table 1, built with the tfjs layers functional API. One definition serves every engine: tfjs runs it as is
 * and the ONNX exporter translates it, so it uses only layers that exporter supports (Conv2D, MaxPooling2D,
 * GlobalAveragePooling2D, Concatenate, Dropout, Dense, Softmax).
 *
 * Deliberate differences from the paper, all inference-neutral or documented:
 * - Local response normalisation after pool1 and conv2 is omitted: tfjs layers has no LRN layer, and the
 *   paper's authors and later reimplementations found it contributes little. Compute cost is unaffected
 *   within a fraction of a percent.
 * - The two auxiliary classifiers (after 4a and 4d) exist only to help training and are discarded at
 *   inference in the paper too, so they are not built.
 * - "same" padding everywhere (TensorFlow rules: for stride 2 on even sizes the extra pad goes bottom/right),
 *   giving the paper's feature-map sizes 112 → 56 → 28 → 14 → 7.
 * - The 7×7 average pool is a global average pool (identical on the 7×7 map a 224 input produces).
 * Layer names follow the reference Caffe model (bvlc_googlenet) with "/" replaced by "_".
 */
import * as tf from '@tensorflow/tfjs';
import { seededUniform } from './seeded-random';

export const GOOGLENET_INPUT_SIZE = 224;
export const GOOGLENET_CLASSES = 1000;
/** Seed used when none is given; any integer works, this one is the paper's year. */
export const GOOGLENET_DEFAULT_SEED = 2014;

/** Filters of one inception module: [#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj]. */
type InceptionSpec = readonly [number, number, number, number, number, number];

/** Table 1 of the paper, in order. */
export const INCEPTION_MODULES: ReadonlyArray<readonly [string, InceptionSpec]> = [
  ['3a', [64, 96, 128, 16, 32, 32]],
  ['3b', [128, 128, 192, 32, 96, 64]],
  ['4a', [192, 96, 208, 16, 48, 64]],
  ['4b', [160, 112, 224, 24, 64, 64]],
  ['4c', [128, 128, 256, 24, 64, 64]],
  ['4d', [112, 144, 288, 32, 64, 64]],
  ['4e', [256, 160, 320, 32, 128, 128]],
  ['5a', [256, 160, 320, 32, 128, 128]],
  ['5b', [384, 192, 384, 48, 128, 128]],
];

function conv(x: tf.SymbolicTensor, filters: number, size: number, name: string, strides = 1): tf.SymbolicTensor {
  return tf.layers
    .conv2d({
      filters,
      kernelSize: size,
      strides,
      padding: 'same',
      activation: 'relu',
      useBias: true,
      // Zeros make construction cheap; real values come from synthetic or loaded weights right after.
      kernelInitializer: 'zeros',
      name,
    })
    .apply(x) as tf.SymbolicTensor;
}

function maxPool(x: tf.SymbolicTensor, stride: number, name: string): tf.SymbolicTensor {
  return tf.layers.maxPooling2d({ poolSize: 3, strides: stride, padding: 'same', name }).apply(x) as tf.SymbolicTensor;
}

function inception(x: tf.SymbolicTensor, id: string, s: InceptionSpec): tf.SymbolicTensor {
  const p = `inception_${id}`;
  const b1 = conv(x, s[0], 1, `${p}_1x1`);
  const b2 = conv(conv(x, s[1], 1, `${p}_3x3_reduce`), s[2], 3, `${p}_3x3`);
  const b3 = conv(conv(x, s[3], 1, `${p}_5x5_reduce`), s[4], 5, `${p}_5x5`);
  const b4 = conv(maxPool(x, 1, `${p}_pool`), s[5], 1, `${p}_pool_proj`);
  return tf.layers.concatenate({ axis: -1, name: `${p}_output` }).apply([b1, b2, b3, b4]) as tf.SymbolicTensor;
}

/** The architecture with all-zero weights; call `applySyntheticWeights` or load real ones. */
export function buildGoogLeNetArchitecture(inputSize = GOOGLENET_INPUT_SIZE): tf.LayersModel {
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: 'input' });
  let x = conv(input, 64, 7, 'conv1_7x7_s2', 2);
  x = maxPool(x, 2, 'pool1_3x3_s2');
  x = conv(x, 64, 1, 'conv2_3x3_reduce');
  x = conv(x, 192, 3, 'conv2_3x3');
  x = maxPool(x, 2, 'pool2_3x3_s2');
  for (const [id, spec] of INCEPTION_MODULES) {
    x = inception(x, id, spec);
    if (id === '3b') x = maxPool(x, 2, 'pool3_3x3_s2');
    if (id === '4e') x = maxPool(x, 2, 'pool4_3x3_s2');
  }
  x = tf.layers.globalAveragePooling2d({ name: 'pool5_7x7_s1' }).apply(x) as tf.SymbolicTensor;
  // Dropout is the identity at inference; kept so the graph matches the paper and trained weights line up.
  x = tf.layers.dropout({ rate: 0.4, name: 'pool5_drop_7x7_s1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .dense({ units: GOOGLENET_CLASSES, kernelInitializer: 'zeros', name: 'loss3_classifier' })
    .apply(x) as tf.SymbolicTensor;
  const probs = tf.layers.softmax({ name: 'prob' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs, name: 'googlenet' });
}

/**
 * Scale of the classifier's weights relative to LeCun-uniform. The convolutions use He scaling (variance
 * 2/fan_in), which keeps ReLU activations' second moment roughly constant, but the max pools (5 on the
 * main path, 9 more in the branches) raise it layer after layer. Measured with seed 2014 and signed
 * normalisation: logits' standard deviation 1.8 (chelsea.jpg), 2.6 (coffee.png), 3.6 (uniform noise), top
 * probability 0.09–0.56: the softmax is neither saturated (one class at 1.0, NaN-prone) nor flat (top-5
 * decided by float noise, which would make cross-engine comparisons meaningless).
 */
const CLASSIFIER_GAIN = 1.25;
/** Biases are small but non-zero so that the bias-add path is exercised (and compared across engines). */
const BIAS_LIMIT = 0.02;

/**
 * Deterministic synthetic weights: every tensor is a function of (seed, weight name) only, computed with
 * integer arithmetic, so the same seed gives bit-identical weights on every engine and machine.
 * Kernels are uniform with He variance 2/fan_in for the ReLU convolutions and CLASSIFIER_GAIN/fan_in for
 * the classifier; biases uniform in ±BIAS_LIMIT.
 */
export function applySyntheticWeights(model: tf.LayersModel, seed: number): void {
  const values = model.weights.map((w) => {
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    let limit: number;
    if (shape.length === 1) {
      limit = BIAS_LIMIT;
    } else {
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const variance = (w.originalName.startsWith('loss3_classifier') ? CLASSIFIER_GAIN : 2) / fanIn;
      // Uniform on [−a, a] has variance a²/3.
      limit = Math.sqrt(3 * variance);
    }
    return tf.tensor(seededUniform(seed, w.originalName, size, limit), shape, 'float32');
  });
  model.setWeights(values);
  tf.dispose(values);
}

/** GoogLeNet with seeded synthetic weights, ready to run. */
export function buildGoogLeNet(seed = GOOGLENET_DEFAULT_SEED): tf.LayersModel {
  const model = buildGoogLeNetArchitecture();
  applySyntheticWeights(model, seed);
  return model;
}
