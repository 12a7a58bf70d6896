/**
 * A small ONNX graph builder over onnx-proto's protobufjs-generated ModelProto: nodes, initializers with
 * raw little-endian data, unique value names, and one `encode()` into model bytes. It knows nothing about
 * tfjs; export-onnx.ts drives it.
 */
import { onnx } from 'onnx-proto';

/** ONNX IR version 8 (ONNX 1.10, what onnx-proto 8 describes) with the default-domain opset below. */
export const ONNX_IR_VERSION = 8;
/** Opset 13: single-axis Softmax, Clip/Pad/Squeeze bounds as inputs; supported by every current ORT. */
export const ONNX_OPSET = 13;

export type AttrValue = number | number[] | string;
/** Attributes by name; integers vs floats are told apart by `floatAttrs` (JS has one number type). */
export interface NodeAttrs {
  [name: string]: AttrValue;
}

export interface GraphIo {
  name: string;
  /** A number is a fixed size, a string a symbolic (dynamic) dimension such as "N". */
  dims: (number | string)[];
}

export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A value name not used before in this graph, derived from `base` (tfjs names may repeat). */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Reserves an exact name (graph inputs/outputs); a clash is a programming error. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX value name "${name}" is already used`);
    this.used.add(name);
    return name;
  }

  /**
   * Adds a node and returns its output name. `floatAttrs` lists attributes that are floats (epsilon, alpha);
   * every other number is an int64 attribute.
   */
  node(
    opType: string,
    inputs: string[],
    outputBase: string,
    attrs: NodeAttrs = {},
    floatAttrs: string[] = [],
    exactOutput?: string,
  ): string {
    const output = exactOutput ?? this.uniqueName(outputBase);
    this.nodes.push({
      opType,
      input: inputs,
      output: [output],
      name: output,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v, floatAttrs.includes(name))),
    });
    return output;
  }

  /** A float32 initializer; `data` is stored as raw little-endian bytes (no per-element encoding). */
  floatTensor(base: string, dims: number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new Error(`initializer ${base}: ${data.length} values do not fill dims [${dims.join(',')}]`);
    }
    const name = this.uniqueName(base);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: littleEndianBytes(data),
    });
    return name;
  }

  /** An int64 initializer (shapes, pads, axes), stored as raw little-endian bytes. */
  int64Tensor(base: string, values: number[]): string {
    const name = this.uniqueName(base);
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes });
    return name;
  }

  /** A scalar float32 initializer (Clip bounds, constants in composed activations). */
  floatScalar(base: string, value: number): string {
    const name = this.uniqueName(base);
    this.initializers.push({
      name,
      dims: [],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: littleEndianBytes(new Float32Array([value])),
    });
    return name;
  }

  encode(o: { graphName: string; inputs: GraphIo[]; outputs: GraphIo[]; producer: string; producerVersion: string;
    docString?: string }): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: o.producer,
      producerVersion: o.producerVersion,
      docString: o.docString ?? '',
      graph: {
        name: o.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: o.inputs.map(valueInfo),
        output: o.outputs.map(valueInfo),
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

function valueInfo(io: GraphIo): onnx.IValueInfoProto {
  return {
    name: io.name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: io.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue, isFloat: boolean): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return isFloat ? { name, type: T.FLOATS, floats: v } : { name, type: T.INTS, ints: v };
  return isFloat ? { name, type: T.FLOAT, f: v } : { name, type: T.INT, i: v };
}

/** Float32 values as little-endian bytes, copying only on a big-endian host. */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}
