/**
 * An Engine over a TensorFlow.js model (layers, graph, or tfjs-node SavedModel) on whichever tfjs backend
 * is active (wasm, cpu, tensorflow). The backend-specific files (tfjs-wasm.ts, …) only activate a backend
 * and describe it; everything about running a model lives here.
 *
 * Softmax: the Engine contract is probabilities out. Whether the model already ends in a softmax is read
 * from its structure — the last layer (through Reshape/Flatten/Dropout/linear Activation) is a Softmax layer
 * or has activation "softmax", or the graph's output node (through Identity/Reshape/Squeeze) is a Softmax
 * op. When the structure is not available (SavedModel signatures), the first inference decides: every row
 * non-negative and summing to 1 within 1e-3 means probabilities. Otherwise the engine applies softmax.
 */
import * as tf from '@tensorflow/tfjs';
import type { Engine, EngineInfo } from './engine';

/** tfjs-node's TFSavedModel implements tf.InferenceModel; so do layers and graph models. */
export type TfjsModel = tf.LayersModel | tf.GraphModel | tf.InferenceModel;

/** What a tfjs-*.ts activation returns: the tfjs backend name to run on and the engine's description. */
export interface TfjsBackendActivation {
  tfBackend: string;
  info: EngineInfo;
}

export interface TfjsEngineOptions {
  activation: TfjsBackendActivation;
  /** [h, w, c]; required when the model's input has unknown (dynamic) height, width or channels. */
  inputShape?: readonly [number, number, number];
  /** Graph model topology (model.json "modelTopology") for softmax detection; optional. */
  graphTopology?: unknown;
  log?: (msg: string) => void;
}

export interface SoftmaxDecision {
  applied: boolean;
  why: string;
}

/** The engine plus the decisions made while creating it, so the loader can report them. */
export interface TfjsEngine extends Engine {
  readonly softmax: SoftmaxDecision;
}

const PASS_THROUGH_LAYERS = new Set(['Reshape', 'Flatten', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianDropout', 'AlphaDropout', 'Permute']);
const PASS_THROUGH_OPS = new Set(['Identity', 'IdentityN', 'Reshape', 'Squeeze', 'StopGradient', 'Snapshot']);

function isLayersModel(m: TfjsModel): m is tf.LayersModel {
  return m instanceof tf.LayersModel;
}

function isGraphModel(m: TfjsModel): m is tf.GraphModel {
  return m instanceof tf.GraphModel;
}

/** Does a layers model end in a softmax? undefined when it cannot tell (more than one output). */
export function layersModelEndsInSoftmax(model: tf.LayersModel): boolean | undefined {
  if (model.outputs.length !== 1) return undefined;
  let layer = model.outputs[0].sourceLayer;
  for (let hops = 0; hops < 16; hops++) {
    const cls = layer.getClassName();
    const activation = (layer.getConfig() as { activation?: unknown }).activation;
    if (cls === 'Softmax' || activation === 'softmax') return true;
    const passThrough = PASS_THROUGH_LAYERS.has(cls) || (cls === 'Activation' && activation === 'linear');
    if (!passThrough) return false;
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1) return false;
    layer = inbound[0];
  }
  return false;
}

interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
}

/** Does a graph model's output node come from a Softmax op? undefined when the topology is missing. */
export function graphEndsInSoftmax(topology: unknown, outputNode: string): boolean | undefined {
  const nodes = (topology as { node?: GraphNodeDef[] } | undefined)?.node;
  if (!Array.isArray(nodes)) return undefined;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  let name = outputNode.replace(/:\d+$/, '');
  for (let hops = 0; hops < 16; hops++) {
    const node = byName.get(name);
    if (!node) return undefined;
    if (node.op === 'Softmax') return true;
    if (!PASS_THROUGH_OPS.has(node.op)) return false;
    const first = (node.input ?? []).find((i) => !i.startsWith('^'));
    if (!first) return false;
    name = first.replace(/:\d+$/, '');
  }
  return false;
}

/** Input shape [h, w, c] as the model declares it, with undefined for dynamic dimensions. */
function declaredInputShape(model: TfjsModel): Array<number | undefined> {
  let shape: Array<number | null> | undefined;
  if (isLayersModel(model)) {
    if (model.inputs.length !== 1) throw new Error(`model has ${model.inputs.length} inputs; an image classifier has exactly one`);
    shape = model.inputs[0].shape;
  } else {
    const inputs = model.inputs;
    if (inputs.length !== 1) throw new Error(`model has ${inputs.length} inputs; an image classifier has exactly one`);
    shape = inputs[0].shape ?? undefined;
  }
  if (!shape) return [undefined, undefined, undefined];
  if (shape.length !== 4) throw new Error(`model input has shape [${shape.join(', ')}]; expected a 4-D NHWC image batch`);
  return shape.slice(1).map((d) => (d === null || d < 0 ? undefined : d));
}

/** Resolve the input shape from the model and the caller's wish; a contradiction is an error. */
export function resolveInputShape(
  declared: Array<number | undefined>,
  wanted: readonly [number, number, number] | undefined,
): [number, number, number] {
  const names = ['height', 'width', 'channels'];
  const out: number[] = [];
  for (let i = 0; i < 3; i++) {
    const d = declared[i];
    const w = wanted?.[i];
    if (d !== undefined && w !== undefined && d !== w) {
      throw new Error(`model input ${names[i]} is fixed at ${d} but ${w} was requested (--input-size); drop the flag or use ${d}`);
    }
    const v = d ?? w;
    if (v === undefined) throw new Error(`model input ${names[i]} is dynamic; pass --input-size to choose it`);
    out.push(v);
  }
  return [out[0], out[1], out[2]];
}

function singleOutput(y: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): tf.Tensor {
  if (y instanceof tf.Tensor) return y;
  const list = Array.isArray(y) ? y : Object.values(y);
  if (list.length !== 1) throw new Error(`model produced ${list.length} outputs; a classifier must produce exactly one`);
  return list[0];
}

function isDynamicOpError(e: unknown): boolean {
  return e instanceof Error && /executeAsync|dynamic op/i.test(e.message);
}

function looksLikeProbabilities(values: Float32Array, n: number, classes: number): boolean {
  for (let r = 0; r < n; r++) {
    let sum = 0;
    for (let i = r * classes; i < (r + 1) * classes; i++) {
      const v = values[i];
      if (!(v >= 0 && v <= 1)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

/**
 * Wraps a loaded tfjs model. Runs one zero-filled inference to learn the output size and whether graph
 * execution must be async (models with control flow); the caller's warm-up comes after.
 */
export async function createTfjsEngine(model: TfjsModel, o: TfjsEngineOptions): Promise<TfjsEngine> {
  const { tfBackend, info } = o.activation;
  const log = o.log ?? (() => {});
  const inputShape = resolveInputShape(declaredInputShape(model), o.inputShape);
  const [h, w, c] = inputShape;
  const perImage = h * w * c;
  let useAsync = false;

  async function ensureBackend(): Promise<void> {
    // tfjs has one active backend per process; another engine (e.g. an ONNX export on "cpu") may have
    // switched it. Tensors follow lazily, so switching back is correct, just slow if engines alternate.
    if (tf.getBackend() !== tfBackend) await tf.setBackend(tfBackend);
  }

  /** Raw model output for n images as [n, classes] (not yet softmaxed), caller disposes. */
  async function runRaw(batch: Float32Array, n: number): Promise<tf.Tensor2D> {
    await ensureBackend();
    if (!useAsync) {
      try {
        return tf.tidy(() => {
          // tensor4d takes the Float32Array as is (cpu keeps the reference, wasm copies once into its heap).
          const x = tf.tensor4d(batch, [n, h, w, c], 'float32');
          const y = singleOutput(model.predict(x, {}));
          return y.reshape([n, -1]) as tf.Tensor2D;
        });
      } catch (e) {
        if (!isGraphModel(model) || !isDynamicOpError(e)) throw e;
        useAsync = true;
        log(`tfjs: graph model has control flow; using executeAsync`);
      }
    }
    const x = tf.tensor4d(batch, [n, h, w, c], 'float32');
    try {
      const y = singleOutput(await (model as tf.GraphModel).executeAsync(x));
      try {
        return tf.tidy(() => y.reshape([n, -1]) as tf.Tensor2D);
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
  }

  // Probe: output size and, if the structure does not say, whether the output is already probabilities.
  const probeBatch = new Float32Array(perImage);
  const probeOut = await runRaw(probeBatch, 1);
  const numClasses = probeOut.shape[1];
  const probeValues = (await probeOut.data()) as Float32Array;
  probeOut.dispose();

  let structural: boolean | undefined;
  let structuralWhy = '';
  if (isLayersModel(model)) {
    structural = layersModelEndsInSoftmax(model);
    structuralWhy = 'the last layer';
  } else if (isGraphModel(model)) {
    structural = graphEndsInSoftmax(o.graphTopology, model.outputNodes[0] ?? '');
    structuralWhy = 'the output node';
  }
  let softmax: SoftmaxDecision;
  if (structural === true) softmax = { applied: false, why: `${structuralWhy} is a softmax: output is probabilities` };
  else if (structural === false) softmax = { applied: true, why: `${structuralWhy} is not a softmax: output treated as logits, softmax applied` };
  else if (looksLikeProbabilities(probeValues, 1, numClasses)) {
    softmax = { applied: false, why: 'structure unknown; first output is non-negative and sums to 1: treated as probabilities' };
  } else {
    softmax = { applied: true, why: 'structure unknown; first output is not a distribution: softmax applied' };
  }
  log(`tfjs: input [${inputShape.join(', ')}], ${numClasses} classes; ${softmax.why}`);

  let disposed = false;
  return {
    info,
    inputShape,
    numClasses,
    softmax,
    async predict(batch: Float32Array, n: number): Promise<Float32Array> {
      if (disposed) throw new Error('engine is disposed');
      if (!Number.isInteger(n) || n < 1) throw new Error(`batch size ${n} must be a positive integer`);
      if (batch.length < n * perImage) {
        throw new Error(`batch has ${batch.length} floats; ${n} images of ${h}x${w}x${c} need ${n * perImage}`);
      }
      const input = batch.length === n * perImage ? batch : batch.subarray(0, n * perImage);
      const raw = await runRaw(input, n);
      const out = softmax.applied ? tf.tidy(() => tf.softmax(raw)) : raw;
      if (out !== raw) raw.dispose();
      try {
        const data = await out.data();
        return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      } finally {
        out.dispose();
      }
    },
    liveTensors(): number {
      return tf.memory().numTensors;
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      const d = (model as { dispose?: () => unknown }).dispose;
      if (typeof d === 'function') d.call(model);
    },
  };
}
