/**
 * One ONNX Runtime session and the run function over it, shared by the in-thread engine and the worker thread
 * (onnx-worker.ts): session options, input/output discovery, shape checks and the zero-copy run.
 */
import type * as Ort from 'onnxruntime-node';

export const ORT_PACKAGE = 'onnxruntime-node';

export function loadOrt(): typeof Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the package may be absent
  return require(ORT_PACKAGE) as typeof Ort;
}

export interface SessionSpec {
  cuda: boolean;
  threads: number;
  inputShape?: [number, number, number];
  /** Let idle intra-op threads spin-wait (ORT's default): lowest latency when nothing else needs the cores. */
  spin: boolean;
}

export interface OpenSession {
  inputShape: [number, number, number];
  numClasses: number;
  /** Runs n NHWC images (the tensor wraps `batch` without copying); returns n × numClasses floats. */
  run(batch: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function openSession(model: Uint8Array | string, spec: SessionSpec): Promise<OpenSession> {
  const ort = loadOrt();
  const options: Ort.InferenceSession.SessionOptions = {
    executionProviders: spec.cuda ? ['cuda', 'cpu'] : ['cpu'],
    intraOpNumThreads: spec.threads,
    // One request's graph runs its ops in order; parallelism comes from intra-op threads and from batching.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Errors only: ORT's warnings (e.g. CUDA memcpy node placement) are noise in the service log.
    logSeverityLevel: 3,
    // Spinning pool threads keep a core busy between parallel sections; beside a JS thread that must wake to
    // hand over results (worker mode) or serve gRPC, that costs more than it saves on a small machine.
    ...(spec.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  };
  let session: Ort.InferenceSession;
  try {
    session = typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const what = typeof model === 'string' ? model : `a ${model.byteLength}-byte model`;
    throw new Error(`ONNX Runtime could not load ${what}${spec.cuda ? ' with the CUDA provider' : ''}: ${errorMessage(e)}`);
  }
  try {
    return await describe(ort, session, spec);
  } catch (e) {
    await session.release();
    throw e;
  }
}

async function describe(ort: typeof Ort, session: Ort.InferenceSession, spec: SessionSpec): Promise<OpenSession> {
  if (session.inputNames.length !== 1) {
    throw new Error(`the ONNX model must have exactly one input, it has ${session.inputNames.length} ` +
      `(${session.inputNames.join(', ')})`);
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const inMeta = session.inputMetadata[0];
  if (!inMeta.isTensor || inMeta.type !== 'float32' || inMeta.shape.length !== 4) {
    throw new Error(`the ONNX model's input "${inputName}" must be a float32 NHWC tensor [N,H,W,C], it is ` +
      (inMeta.isTensor ? `${inMeta.type} [${inMeta.shape.join(',')}]` : 'not a tensor'));
  }
  const inputShape = resolveInputShape(inMeta.shape.slice(1), spec.inputShape, inputName);
  const [h, w, c] = inputShape;
  const perImage = h * w * c;
  const fixedBatch = typeof inMeta.shape[0] === 'number' ? inMeta.shape[0] : undefined;

  const runRaw = async (batch: Float32Array, n: number): Promise<Float32Array> => {
    if (!Number.isInteger(n) || n < 1) throw new Error(`batch size must be a positive integer, got ${n}`);
    if (fixedBatch !== undefined && n !== fixedBatch) {
      throw new Error(`this ONNX model has a fixed batch size of ${fixedBatch}, got ${n} images`);
    }
    const need = n * perImage;
    if (batch.length < need) throw new Error(`batch holds ${batch.length} floats; ${n} images of ${h}x${w}x${c} need ${need}`);
    const data = batch.length === need ? batch : batch.subarray(0, need);
    const results = await session.run({ [inputName]: new ort.Tensor('float32', data, [n, h, w, c]) }, [outputName]);
    const out = results[outputName];
    if (out.type !== 'float32') throw new Error(`the ONNX model's output "${outputName}" is ${out.type}, not float32`);
    return out.data as Float32Array;
  };

  // The class count comes from the output's static shape, or from one all-zero run when it is symbolic.
  const outMeta = session.outputMetadata[0];
  const declared = outMeta.isTensor && outMeta.shape.length === 2 && typeof outMeta.shape[1] === 'number'
    ? outMeta.shape[1] : undefined;
  const probeN = fixedBatch ?? 1;
  const numClasses = declared ?? (await runRaw(new Float32Array(perImage * probeN), probeN)).length / probeN;

  return {
    inputShape,
    numClasses,
    async run(batch, n) {
      const out = await runRaw(batch, n);
      if (out.length !== n * numClasses) {
        throw new Error(`the ONNX model returned ${out.length} values for ${n} images of ${numClasses} classes`);
      }
      return out;
    },
    release: () => session.release(),
  };
}

function resolveInputShape(dims: readonly (number | string)[], given: [number, number, number] | undefined,
  inputName: string): [number, number, number] {
  const shape = dims.map((d, i) => {
    if (typeof d === 'number' && d > 0) {
      if (given && given[i] !== d) {
        throw new Error(`input shape [${given.join(',')}] was requested but the ONNX model's input "${inputName}" is ` +
          `[N,${dims.join(',')}] (NHWC expected)`);
      }
      return d;
    }
    if (!given) {
      throw new Error(`the ONNX model's input "${inputName}" has symbolic dims [N,${dims.join(',')}]; give the input ` +
        'size (H, W, C) explicitly');
    }
    return given[i];
  });
  return [shape[0], shape[1], shape[2]];
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
