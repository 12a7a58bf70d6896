/**
 * TensorFlow.js layers model (architecture + weights) → ONNX model bytes, so ONNX Runtime can serve the same
 * network natively.
 *
 * Contract: one graph input "input", float32 NHWC [N,H,W,C] with a dynamic batch N (the layout every engine
 * receives, see engine.ts); one output "probabilities" [N, classes] (whatever the model's last layer computes;
 * our models end in softmax).
 *
 * Layout, handled here and nowhere else: Keras/tfjs tensors are channels-last, ONNX convolutions and pools are
 * NCHW. Every exported value carries the layout it is stored in. Ops that need NCHW (conv, pool, pad, crop,
 * batch norm) ask `nchw()`, ops whose meaning depends on Keras' element order (Flatten, Reshape, Dense) ask
 * `keras()`; each inserts at most one Transpose per value (memoised). So the graph input gets exactly one
 * Transpose to NCHW in front of the first convolution, and a spatial tensor is transposed back to NHWC before
 * it is flattened, which keeps Keras' flattening order. Axis arguments (softmax, concat, batch norm) are mapped
 * through `onnxAxis()`.
 *
 * BatchNormalization is exported as an ONNX BatchNormalization node (inference form); ONNX Runtime's basic
 * graph optimisations fuse it into the preceding Conv, so folding it here would gain nothing and would make
 * the exported graph harder to compare with the source.
 *
 * Padding: TF "same" pads asymmetrically (the extra row/column goes at the end) when the total is odd, so pads
 * are computed explicitly from the static input size rather than trusting auto_pad. Max pooling ignores pads
 * in both frameworks; average pooling "same" excludes the padding from the count in TF, which is ONNX's
 * count_include_pad=0.
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxGraphBuilder } from './onnx-graph';

/**
 * Bumped whenever exported graphs change; part of the export cache key (onnx-cache.ts), so a cached export
 * from an older exporter is never reused. 2: Dense is MatMul + Add instead of Gemm.
 */
export const EXPORTER_VERSION = '2';

export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'probabilities';

type SymbolicTensor = tf.SymbolicTensor;
type Layer = tf.SymbolicTensor['sourceLayer'];
type LayerNode = Layer['inboundNodes'][number];
/** tfjs getConfig() values are loosely typed JSON. */
type Config = ReturnType<Layer['getConfig']>;

/** How an exported value is stored: Keras order, or (rank 4 only) transposed to NCHW. */
type Layout = 'keras' | 'nchw';

interface Value {
  name: string;
  layout: Layout;
  /** Keras-order shape with the batch dimension first (null = dynamic), whatever the stored layout. */
  shape: readonly (number | null)[];
}

/** Keras NHWC axis order of an NCHW-stored tensor: position i of NCHW holds Keras axis NCHW_FROM_NHWC[i]. */
const NCHW_FROM_NHWC = [0, 3, 1, 2];
const NHWC_FROM_NCHW = [0, 2, 3, 1];

/** Layers that are the identity at inference time. */
const INFERENCE_IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise',
  'GaussianDropout', 'AlphaDropout']);

export interface ExportOptions {
  /** Recorded in the model's doc string (e.g. "builtin:googlenet"). */
  source?: string;
}

/**
 * Converts `model` into ONNX model bytes. Throws an Error naming the layer (name and class) for anything it
 * cannot express exactly: unknown layers or activations, channels_first, dilation, multiple inputs/outputs.
 */
export function exportLayersModelToOnnx(model: tf.LayersModel, options: ExportOptions = {}): Uint8Array {
  return new Exporter(model).run(options);
}

class LayerError extends Error {
  constructor(layer: Layer, reason: string) {
    super(`cannot export layer "${layer.name}" (${layer.getClassName()}) to ONNX: ${reason}`);
    this.name = 'OnnxExportError';
  }
}

class Exporter {
  private readonly g = new OnnxGraphBuilder();
  /** SymbolicTensor id → exported value. */
  private readonly values = new Map<number, Value>();
  /** Transposes already inserted: "<value name>→<layout>" → transposed value. */
  private readonly relayouts = new Map<string, Value>();
  /** Initializers already exported per layer, so a shared layer's weights are stored once. */
  private readonly layerWeights = new Map<Layer, Map<string, string>>();

  constructor(private readonly model: tf.LayersModel) {}

  run(options: ExportOptions): Uint8Array {
    const m = this.model;
    if (m.inputs.length !== 1) throw new Error(`ONNX export needs a model with one input; "${m.name}" has ${m.inputs.length}`);
    if (m.outputs.length !== 1) throw new Error(`ONNX export needs a model with one output; "${m.name}" has ${m.outputs.length}`);
    const input = m.inputs[0];
    const [, h, w, c] = input.shape;
    if (input.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number') {
      throw new Error(`ONNX export needs an image input [N,H,W,C] with fixed H, W, C; "${m.name}" has ` +
        `[${input.shape.map(String).join(',')}]`);
    }
    if (input.dtype !== 'float32') throw new Error(`ONNX export needs a float32 input; "${m.name}" has ${input.dtype}`);
    this.values.set(input.id, { name: this.g.reserve(ONNX_INPUT_NAME), layout: 'keras', shape: input.shape });
    this.g.reserve(ONNX_OUTPUT_NAME);

    const out = this.keras(this.resolve(m.outputs[0]));
    if (out.shape.length !== 2 || typeof out.shape[1] !== 'number') {
      throw new Error(`ONNX export needs an output [N, classes]; "${m.name}" outputs [${out.shape.map(String).join(',')}]`);
    }
    this.g.node('Identity', [out.name], ONNX_OUTPUT_NAME, {}, [], ONNX_OUTPUT_NAME);
    return this.g.encode({
      graphName: m.name,
      inputs: [{ name: ONNX_INPUT_NAME, dims: ['N', h, w, c] }],
      outputs: [{ name: ONNX_OUTPUT_NAME, dims: ['N', out.shape[1]] }],
      producer: 'realtime-inference export-onnx',
      producerVersion: EXPORTER_VERSION,
      docString: `exported from TensorFlow.js layers model "${m.name}"${options.source ? ` (${options.source})` : ''}`,
    });
  }

  /** Exports every layer call `t` depends on (post-order, iterative so deep models cannot overflow the stack). */
  private resolve(target: SymbolicTensor): Value {
    const stack: SymbolicTensor[] = [target];
    while (stack.length > 0) {
      const t = stack[stack.length - 1];
      if (this.values.has(t.id)) {
        stack.pop();
        continue;
      }
      const layer = t.sourceLayer;
      const node = layer.inboundNodes[t.nodeIndex];
      if (layer.getClassName() === 'InputLayer' || !node || node.inputTensors.length === 0) {
        throw new LayerError(layer, 'the model has more than one input (only one image input is supported)');
      }
      const pending = node.inputTensors.filter((i) => !this.values.has(i.id));
      if (pending.length > 0) {
        stack.push(...pending);
        continue;
      }
      const inputs = node.inputTensors.map((i) => this.values.get(i.id) as Value);
      const outputs = this.convert(layer, node, inputs);
      if (outputs.length !== node.outputTensors.length) throw new LayerError(layer, 'unexpected number of outputs');
      node.outputTensors.forEach((o, i) => this.values.set(o.id, outputs[i]));
      stack.pop();
    }
    return this.values.get(target.id) as Value;
  }

  // ---- layout: the one place NHWC and NCHW meet -------------------------------------------------------------

  /** `v` stored NCHW (it must be rank 4), inserting one Transpose the first time it is asked for. */
  private nchw(v: Value): Value {
    if (v.layout === 'nchw') return v;
    if (v.shape.length !== 4) throw new Error(`internal: ${v.name} is rank ${v.shape.length}, not an image tensor`);
    return this.relayout(v, 'nchw', NCHW_FROM_NHWC);
  }

  /** `v` stored in Keras (channels-last) order, transposing back from NCHW when needed. */
  private keras(v: Value): Value {
    return v.layout === 'keras' ? v : this.relayout(v, 'keras', NHWC_FROM_NCHW);
  }

  private relayout(v: Value, layout: Layout, perm: number[]): Value {
    const key = `${v.name}→${layout}`;
    let out = this.relayouts.get(key);
    if (!out) {
      out = { name: this.g.node('Transpose', [v.name], `${v.name}_${layout}`, { perm }), layout, shape: v.shape };
      this.relayouts.set(key, out);
    }
    return out;
  }

  /** The ONNX axis of Keras axis `axis` (negative counts from the end) for a value stored as `v`. */
  private onnxAxis(v: Value, axis: number, layer: Layer): number {
    const rank = v.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) throw new LayerError(layer, `axis ${axis} is out of range for rank ${rank}`);
    return v.layout === 'nchw' ? NCHW_FROM_NHWC.indexOf(a) : a;
  }

  /** All of `vs` in one common layout: NCHW when they are all rank-4 image tensors, else Keras order. */
  private common(vs: Value[], layer: Layer): Value[] {
    const rank = vs[0].shape.length;
    if (vs.some((v) => v.shape.length !== rank)) throw new LayerError(layer, 'inputs of different ranks');
    return rank === 4 ? vs.map((v) => this.nchw(v)) : vs.map((v) => this.keras(v));
  }

  // ---- layers -----------------------------------------------------------------------------------------------

  private convert(layer: Layer, node: LayerNode, inputs: Value[]): Value[] {
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const outShape = node.outputTensors[0].shape;
    const name = layer.name;
    if (node.outputTensors.length !== 1) throw new LayerError(layer, 'layers with several outputs are not supported');
    if (cls !== 'Concatenate' && !MERGE_OPS[cls] && inputs.length !== 1) {
      throw new LayerError(layer, `expected one input, got ${inputs.length}`);
    }
    if (typeof cfg.dataFormat === 'string' && cfg.dataFormat !== 'channelsLast') {
      throw new LayerError(layer, `data_format ${cfg.dataFormat} is not supported (only channels_last)`);
    }
    const x = inputs[0];
    const out = (v: string, layout: Layout): Value[] => [{ name: v, layout, shape: outShape }];

    if (INFERENCE_IDENTITY.has(cls)) return [x];
    switch (cls) {
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D':
        return [this.activation(layer, cfg.activation, this.conv(layer, cls, cfg, x, outShape))];
      case 'Dense':
        return [this.activation(layer, cfg.activation, this.dense(layer, cfg, x, outShape))];
      case 'BatchNormalization':
        return [this.batchNorm(layer, cfg, x, outShape)];
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return [this.pool(layer, cls, cfg, x, outShape)];
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const op = cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
        const pooled = this.g.node(op, [this.nchw(x).name], `${name}_pool`);
        // [N,C,1,1]: as an NCHW image it is what keepDims means; flattened it is Keras' [N,C].
        if (cfg.keepDims === true) return out(pooled, 'nchw');
        return out(this.g.node('Flatten', [pooled], name, { axis: 1 }), 'keras');
      }
      case 'Concatenate': {
        const vs = this.common(inputs, layer);
        const axis = this.onnxAxis(vs[0], num(cfg.axis, -1), layer);
        return out(this.g.node('Concat', vs.map((v) => v.name), name, { axis }), vs[0].layout);
      }
      case 'Flatten': {
        const k = this.keras(x);
        if (k.shape.length === 2) return [{ ...k, shape: outShape }];
        return out(this.g.node('Flatten', [k.name], name, { axis: 1 }), 'keras');
      }
      case 'Reshape': {
        const target = (cfg.targetShape as (number | null)[]).map((d) => (d === null ? -1 : d));
        const shape = this.g.int64Tensor(`${name}_shape`, [0, ...target]);
        return out(this.g.node('Reshape', [this.keras(x).name, shape], name), 'keras');
      }
      case 'Activation':
        return [this.activation(layer, cfg.activation, x)];
      case 'ReLU': {
        if (cfg.maxValue === null || cfg.maxValue === undefined) return out(this.g.node('Relu', [x.name], name), x.layout);
        return out(this.clip(x.name, name, 0, num(cfg.maxValue, 0)), x.layout);
      }
      case 'LeakyReLU':
        return out(this.g.node('LeakyRelu', [x.name], name, { alpha: num(cfg.alpha, 0.3) }, ['alpha']), x.layout);
      case 'ELU':
        return out(this.g.node('Elu', [x.name], name, { alpha: num(cfg.alpha, 1) }, ['alpha']), x.layout);
      case 'Softmax':
        // tfjs' Softmax layer defaults to axis 1 (Keras to -1): honour what the layer says.
        return out(this.g.node('Softmax', [x.name], name, { axis: this.onnxAxis(x, num(cfg.axis, -1), layer) }), x.layout);
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = cfg.padding as number[][];
        const pads = this.g.int64Tensor(`${name}_pads`, [0, 0, top, left, 0, 0, bottom, right]);
        return out(this.g.node('Pad', [this.nchw(x).name, pads], name, { mode: 'constant' }), 'nchw');
      }
      case 'Cropping2D': {
        const [[top, bottom], [left, right]] = cfg.cropping as number[][];
        const [, h, w] = staticHW(layer, x);
        const starts = this.g.int64Tensor(`${name}_starts`, [top, left]);
        const ends = this.g.int64Tensor(`${name}_ends`, [h - bottom, w - right]);
        const axes = this.g.int64Tensor(`${name}_axes`, [2, 3]);
        return out(this.g.node('Slice', [this.nchw(x).name, starts, ends, axes], name), 'nchw');
      }
      default: {
        const merge = MERGE_OPS[cls];
        if (merge) return [this.merge(layer, merge, inputs, outShape)];
        throw new LayerError(layer, `layer class ${cls} is not supported by the exporter`);
      }
    }
  }

  private conv(layer: Layer, cls: string, cfg: Config, x: Value, outShape: tf.Shape): Value {
    const name = layer.name;
    const dilation = pair(cfg.dilationRate, 1);
    if (dilation[0] !== 1 || dilation[1] !== 1) {
      throw new LayerError(layer, `dilation_rate [${dilation.join(',')}] is not supported (only 1)`);
    }
    const kernel = pair(cfg.kernelSize, 1);
    const strides = pair(cfg.strides, 1);
    const pads = padsFor(layer, cfg.padding, staticHW(layer, x), kernel, strides);
    const w = this.weights(layer);
    const inC = channels(layer, x);
    const bias = cfg.useBias === false ? [] : [w.name('bias', (d) => d.shape, (d) => d.data)];
    const xin = this.nchw(x).name;
    const attrs = { kernel_shape: kernel, strides, pads, dilations: [1, 1] };

    if (cls === 'Conv2D') {
      // tfjs [kh,kw,in,out] → ONNX [out,in,kh,kw]
      const k = w.name('kernel', (d) => [d.shape[3], d.shape[2], d.shape[0], d.shape[1]],
        (d) => transpose4(d, [3, 2, 0, 1]));
      return { name: this.g.node('Conv', [xin, k, ...bias], name, { ...attrs, group: 1 }), layout: 'nchw', shape: outShape };
    }
    // Depthwise: tfjs [kh,kw,in,mult] → ONNX [in*mult,1,kh,kw] with group=in; TF numbers output channels
    // i*mult+m, which is exactly ONNX's group-major order.
    const depthwise = (d: WeightData): Float32Array => transpose4(d, [2, 3, 0, 1]);
    const dwShape = (d: WeightData): number[] => [d.shape[2] * d.shape[3], 1, d.shape[0], d.shape[1]];
    if (cls === 'DepthwiseConv2D') {
      const k = w.name('depthwise_kernel', dwShape, depthwise);
      return { name: this.g.node('Conv', [xin, k, ...bias], name, { ...attrs, group: inC }), layout: 'nchw', shape: outShape };
    }
    // SeparableConv2D: depthwise (no bias) then a 1x1 pointwise conv carrying the bias.
    const dk = w.name('depthwise_kernel', dwShape, depthwise);
    const dw = this.g.node('Conv', [xin, dk], `${name}_depthwise`, { ...attrs, group: inC });
    const pk = w.name('pointwise_kernel', (d) => [d.shape[3], d.shape[2], 1, 1], (d) => transpose4(d, [3, 2, 0, 1]));
    const pw = this.g.node('Conv', [dw, pk, ...bias], name, { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], group: 1 });
    return { name: pw, layout: 'nchw', shape: outShape };
  }

  private dense(layer: Layer, cfg: Config, x: Value, outShape: tf.Shape): Value {
    const w = this.weights(layer);
    const k = this.keras(x);
    const kernel = w.name('kernel', (d) => d.shape, (d) => d.data);
    const useBias = cfg.useBias !== false;
    // MatMul (+ Add), never Gemm: OpenCV's ONNX importer (4.6, what Debian ships and the anchor in bench/anchor
    // runs) refuses a Gemm whose bias is an initializer, while every engine loads MatMul + Add, and ONNX
    // Runtime fuses the pair back into one Gemm/FusedMatMul anyway. MatMul also broadcasts like Keras' Dense,
    // which applies to the last axis of any rank, so one form serves rank 2 and above.
    const mm = this.g.node('MatMul', [k.name, kernel], useBias ? `${layer.name}_matmul` : layer.name);
    if (!useBias) return { name: mm, layout: 'keras', shape: outShape };
    const b = w.name('bias', (d) => d.shape, (d) => d.data);
    return { name: this.g.node('Add', [mm, b], layer.name), layout: 'keras', shape: outShape };
  }

  private batchNorm(layer: Layer, cfg: Config, x: Value, outShape: tf.Shape): Value {
    const rank = x.shape.length;
    const axis = num(cfg.axis, -1);
    if (!((rank === 4 || rank === 2) && (axis === -1 || axis === rank - 1))) {
      throw new LayerError(layer, `only channel-last batch normalisation of rank 2 or 4 tensors is supported ` +
        `(axis ${axis}, rank ${rank})`);
    }
    const v = rank === 4 ? this.nchw(x) : x;
    const c = channels(layer, x);
    const w = this.weights(layer);
    const get = (suffix: string, fill: number): string => w.has(suffix)
      ? w.name(suffix, (d) => d.shape, (d) => d.data)
      : this.g.floatTensor(`${layer.name}/${suffix}`, [c], new Float32Array(c).fill(fill));
    if (!w.has('moving_mean') || !w.has('moving_variance')) throw new LayerError(layer, 'moving statistics are missing');
    // center=false / scale=false layers have no beta / gamma: the identity values stand in.
    const inputs = [v.name, get('gamma', 1), get('beta', 0), get('moving_mean', 0), get('moving_variance', 1)];
    const out = this.g.node('BatchNormalization', inputs, layer.name, { epsilon: num(cfg.epsilon, 1e-3) }, ['epsilon']);
    return { name: out, layout: v.layout, shape: outShape };
  }

  private pool(layer: Layer, cls: string, cfg: Config, x: Value, outShape: tf.Shape): Value {
    const kernel = pair(cfg.poolSize, 2);
    const strides = cfg.strides === null || cfg.strides === undefined ? kernel : pair(cfg.strides, 1);
    const pads = padsFor(layer, cfg.padding, staticHW(layer, x), kernel, strides);
    const op = cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
    const attrs = { kernel_shape: kernel, strides, pads, ...(op === 'AveragePool' ? { count_include_pad: 0 } : {}) };
    return { name: this.g.node(op, [this.nchw(x).name], layer.name, attrs), layout: 'nchw', shape: outShape };
  }

  private merge(layer: Layer, op: MergeOp, inputs: Value[], outShape: tf.Shape): Value {
    if (inputs.length < 2) throw new LayerError(layer, 'a merge layer needs at least two inputs');
    const vs = this.common(inputs, layer);
    if (op === 'Sub' && vs.length !== 2) throw new LayerError(layer, 'Subtract takes exactly two inputs');
    let name: string;
    if (op === 'Mul' || op === 'Sub') {
      name = vs[0].name;
      for (let i = 1; i < vs.length; i++) {
        name = this.g.node(op, [name, vs[i].name], i === vs.length - 1 ? layer.name : `${layer.name}_${i}`);
      }
    } else {
      name = this.g.node(op, vs.map((v) => v.name), layer.name);
    }
    return { name, layout: vs[0].layout, shape: outShape };
  }

  /** Applies a Keras activation (by its tfjs name) to `x`, keeping x's layout. */
  private activation(layer: Layer, act: unknown, x: Value): Value {
    const n = `${layer.name}_${String(act)}`;
    const unary = (op: string, attrs: Record<string, number> = {}, floats: string[] = []): Value =>
      ({ ...x, name: this.g.node(op, [x.name], n, attrs, floats) });
    switch (act ?? 'linear') {
      case 'linear':
        return x;
      case 'relu':
        return unary('Relu');
      case 'relu6':
        return { ...x, name: this.clip(x.name, n, 0, 6) };
      case 'sigmoid':
        return unary('Sigmoid');
      case 'tanh':
        return unary('Tanh');
      case 'elu':
        return unary('Elu', { alpha: 1 }, ['alpha']);
      case 'selu':
        return unary('Selu'); // ONNX's default alpha/gamma are SELU's constants, as in tf.selu
      case 'softplus':
        return unary('Softplus');
      case 'softsign':
        return unary('Softsign');
      case 'hardSigmoid':
      case 'hard_sigmoid':
        return unary('HardSigmoid', { alpha: 0.2, beta: 0.5 }, ['alpha', 'beta']); // tfjs: clip(0.2x+0.5, 0, 1)
      case 'softmax':
        return unary('Softmax', { axis: this.onnxAxis(x, -1, layer) });
      case 'logSoftmax':
      case 'log_softmax':
        return unary('LogSoftmax', { axis: this.onnxAxis(x, -1, layer) });
      case 'swish': {
        const s = this.g.node('Sigmoid', [x.name], `${n}_sigmoid`);
        return { ...x, name: this.g.node('Mul', [x.name, s], n) };
      }
      case 'mish': {
        const sp = this.g.node('Softplus', [x.name], `${n}_softplus`);
        const t = this.g.node('Tanh', [sp], `${n}_tanh`);
        return { ...x, name: this.g.node('Mul', [x.name, t], n) };
      }
      case 'gelu': {
        // x·½(1 + erf(x/√2)), as tfjs computes it
        const e = this.g.node('Erf', [this.g.node('Div', [x.name, this.g.floatScalar(`${n}_sqrt2`, Math.SQRT2)], `${n}_div`)], `${n}_erf`);
        const p = this.g.node('Add', [e, this.g.floatScalar(`${n}_one`, 1)], `${n}_add`);
        const h = this.g.node('Mul', [p, this.g.floatScalar(`${n}_half`, 0.5)], `${n}_cdf`);
        return { ...x, name: this.g.node('Mul', [x.name, h], n) };
      }
      default:
        throw new LayerError(layer, `activation "${String(act)}" is not supported`);
    }
  }

  private clip(x: string, name: string, lo: number, hi: number): string {
    return this.g.node('Clip', [x, this.g.floatScalar(`${name}_min`, lo), this.g.floatScalar(`${name}_max`, hi)], name);
  }

  private weights(layer: Layer): LayerWeights {
    let done = this.layerWeights.get(layer);
    if (!done) {
      done = new Map();
      this.layerWeights.set(layer, done);
    }
    const exported = done;
    const byName = new Map<string, WeightData>();
    const tensors = layer.getWeights();
    layer.weights.forEach((v, i) => {
      const t = tensors[i];
      if (t.dtype !== 'float32') throw new LayerError(layer, `weight ${v.name} is ${t.dtype}, not float32`);
      byName.set(weightSuffix(v.originalName), { shape: t.shape, data: t.dataSync() as Float32Array });
    });
    return {
      has: (suffix) => byName.has(suffix),
      name: (suffix, dims, transform) => {
        const cached = exported.get(suffix);
        if (cached) return cached;
        const d = byName.get(suffix);
        if (!d) throw new LayerError(layer, `weight "${suffix}" not found (have ${[...byName.keys()].join(', ')})`);
        const initializer = this.g.floatTensor(`${layer.name}/${suffix}`, dims(d), transform(d));
        exported.set(suffix, initializer);
        return initializer;
      },
    };
  }
}

type MergeOp = 'Sum' | 'Mul' | 'Sub' | 'Mean' | 'Max' | 'Min';
const MERGE_OPS: Record<string, MergeOp | undefined> = {
  Add: 'Sum', Multiply: 'Mul', Subtract: 'Sub', Average: 'Mean', Maximum: 'Max', Minimum: 'Min',
};

interface WeightData {
  shape: number[];
  data: Float32Array;
}

interface LayerWeights {
  has(suffix: string): boolean;
  /** Initializer name of weight `suffix`, created on first use with the given ONNX dims and data. */
  name(suffix: string, dims: (d: WeightData) => number[], transform: (d: WeightData) => Float32Array): string;
}

/** "conv1/kernel" → "kernel"; tfjs may uniquify a name as "conv1/kernel_1". */
function weightSuffix(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).replace(/_\d+$/, '');
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((e) => typeof e === 'number')) return [v[0], v[1]];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  return [fallback, fallback];
}

/** [N, H, W] of an image tensor, requiring H and W to be known (pads depend on them). */
function staticHW(layer: Layer, x: Value): [number | null, number, number] {
  const [n, h, w] = x.shape;
  if (x.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number') {
    throw new LayerError(layer, `needs a [N,H,W,C] input with known H and W, got [${x.shape.map(String).join(',')}]`);
  }
  return [n, h, w];
}

function channels(layer: Layer, x: Value): number {
  const c = x.shape[x.shape.length - 1];
  if (typeof c !== 'number') throw new LayerError(layer, 'the number of input channels is unknown');
  return c;
}

/** ONNX pads [top, left, bottom, right] reproducing TF's "valid" / "same" (extra padding at the end). */
function padsFor(layer: Layer, padding: unknown, [, h, w]: [number | null, number, number],
  kernel: [number, number], strides: [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw new LayerError(layer, `padding "${String(padding)}" is not supported`);
  const total = (size: number, k: number, s: number): number => Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
  const th = total(h, kernel[0], strides[0]);
  const tw = total(w, kernel[1], strides[1]);
  const top = Math.floor(th / 2);
  const left = Math.floor(tw / 2);
  return [top, left, th - top, tw - left];
}

/** Permutes a rank-4 weight: output axis i is input axis perm[i]. */
function transpose4(d: WeightData, perm: number[]): Float32Array {
  const s = d.shape;
  if (s.length !== 4) throw new Error(`internal: expected a rank-4 kernel, got [${s.join(',')}]`);
  const inStrides = [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
  const os = perm.map((p) => s[p]);
  const st = perm.map((p) => inStrides[p]);
  const out = new Float32Array(d.data.length);
  let o = 0;
  for (let a = 0; a < os[0]; a++) {
    for (let b = 0; b < os[1]; b++) {
      for (let c = 0; c < os[2]; c++) {
        const base = a * st[0] + b * st[1] + c * st[2];
        for (let e = 0; e < os[3]; e++) out[o++] = d.data[base + e * st[3]];
      }
    }
  }
  return out;
}
