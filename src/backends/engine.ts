/**
 * The one interface every inference engine implements. Engines know nothing about models' meaning
 * (labels, normalisation): they take a batch of already-normalised NHWC float32 images and return
 * class probabilities. Layout conversions (NHWC↔NCHW) happen once, inside the model export, never here.
 */

/** How a model is stored; which engines can run it is the backend selection's business. */
export type ModelFormat = 'layers' | 'graph' | 'onnx' | 'saved-model';

/** Every backend the server can run on, in auto-selection preference order. */
export const BACKEND_NAMES = [
  'onnxruntime-cuda',
  'tensorflow-gpu',
  'onnxruntime',
  'tensorflow',
  'wasm',
  'cpu',
] as const;

export type BackendName = (typeof BACKEND_NAMES)[number];

/** What `--backend` accepts. */
export type BackendRequest = BackendName | 'auto';

export interface EngineInfo {
  backend: BackendName;
  /** npm package that does the compute, e.g. "onnxruntime-node" or "@tensorflow/tfjs-backend-wasm". */
  library: string;
  version: string;
  /** Intra-op threads in use; 0 when the engine has no such notion or uses its own default. */
  threads: number;
  /** Copies of the model that run batches side by side, each with `threads` threads; absent means 1. */
  instances?: number;
  /** Threads of the extra session that runs a batch only when no other is running; absent when there is none. */
  soloThreads?: number;
  /** How the engine shares the cores, and why (logged at start-up); absent when it has no such choice. */
  plan?: string;
  /** CPUExecutionProvider, CUDAExecutionProvider, tfjs-wasm (simd), tfjs-cpu (plain JS), tfjs-node, ... */
  executionProvider: string;
}

export interface Engine {
  readonly info: EngineInfo;
  /** Model input as [height, width, channels] (NHWC without the batch dimension). */
  readonly inputShape: readonly [number, number, number];
  /** Length of one image's output vector. */
  readonly numClasses: number;
  /**
   * Runs `n` images. `batch` holds n × h × w × c normalised floats (NHWC); it is only read.
   * Resolves to n × numClasses probabilities (softmax already applied).
   */
  predict(batch: Float32Array, n: number): Promise<Float32Array>;
  /** Live engine-side tensors (tfjs `tf.memory().numTensors`), for leak checks; undefined when not tracked. */
  liveTensors(): number | undefined;
  dispose(): Promise<void>;
}
