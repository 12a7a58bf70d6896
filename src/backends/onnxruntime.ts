/**
 * ONNX Runtime engine (onnxruntime-node): the CPU execution provider ships inside the npm package; the CUDA
 * provider (libonnxruntime_providers_cuda.so + libonnxruntime_providers_shared.so) is downloaded by the
 * package's install script from NuGet; this project's package.json denies that script (`allowScripts`, so a
 * fresh clone installs offline; README "Development" says what older npm does). A GPU image installs it with
 * `npm install --onnxruntime-node-install=cuda12` (or ONNXRUNTIME_NODE_INSTALL=cuda12), and needs the CUDA 12
 * and cuDNN 9 runtime libraries on the library path.
 *
 * onnxruntime-node is required lazily, so this module can be imported (and probed) where it is missing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { resolveCpuPlan } from './cpu-plan';
import type { Engine, EngineInfo } from './engine';
import { errorMessage, loadOrt, openSession, ORT_PACKAGE, type SessionSpec } from './onnx-session';
import type { RunRequest, WorkerInit, WorkerReply } from './onnx-worker';

export { ORT_PACKAGE };

export interface OnnxRuntimeProbe {
  installed: boolean;
  version?: string;
  /** True when a GPU is visible and the CUDA provider library is present in the package. */
  cuda: boolean;
  /** One line saying what was found and, when something is missing, what to do about it. */
  reason: string;
}

let probed: OnnxRuntimeProbe | undefined;

/** Whether onnxruntime-node loads here and whether its CUDA execution provider can be used. Cached. */
export function probeOnnxRuntime(): OnnxRuntimeProbe {
  probed ??= probe();
  return probed;
}

function probe(): OnnxRuntimeProbe {
  let entry: string;
  try {
    entry = require.resolve(ORT_PACKAGE);
  } catch {
    return { installed: false, cuda: false, reason: `${ORT_PACKAGE} is not installed (npm install ${ORT_PACKAGE})` };
  }
  let ort: typeof Ort;
  try {
    ort = loadOrt();
  } catch (e) {
    return { installed: false, cuda: false, reason: `${ORT_PACKAGE} is installed but failed to load: ${errorMessage(e)}` };
  }
  const version = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
  const prefix = `${ORT_PACKAGE} ${version} loaded (CPU execution provider bundled)`;

  const gpu = gpuVisible();
  if (!gpu.visible) return { installed: true, version, cuda: false, reason: `${prefix}; CUDA: ${gpu.detail}` };
  // The package's dist/ sits beside bin/napi-v6/<platform>/<arch>/, where the install script puts the provider.
  const binDir = path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const libs = process.platform === 'win32'
    ? ['onnxruntime_providers_cuda.dll', 'onnxruntime_providers_shared.dll']
    : ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];
  const missing = libs.filter((l) => !fs.existsSync(path.join(binDir, l)));
  if (missing.length > 0) {
    return {
      installed: true, version, cuda: false,
      reason: `${prefix}; CUDA: ${gpu.detail} but ${missing.join(', ')} not in ${binDir} (the CUDA provider download ` +
        `was skipped; reinstall with: npm install --onnxruntime-node-install=cuda12 ${ORT_PACKAGE})`,
    };
  }
  return {
    installed: true, version, cuda: true,
    reason: `${prefix}; CUDA: ${gpu.detail} and the CUDA provider is installed (needs CUDA 12 + cuDNN 9 runtime libraries)`,
  };
}

function gpuVisible(): { visible: boolean; detail: string } {
  if (fs.existsSync('/dev/nvidiactl')) return { visible: true, detail: 'GPU visible (/dev/nvidiactl)' };
  const exe = process.platform === 'win32' ? 'nvidia-smi.exe' : 'nvidia-smi';
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const smi = dirs.map((d) => path.join(d, exe)).find((p) => fs.existsSync(p));
  if (smi) return { visible: true, detail: `GPU driver tools present (${smi})` };
  return { visible: false, detail: 'no GPU visible (no /dev/nvidiactl, no nvidia-smi on PATH)' };
}

export interface OnnxEngineOptions {
  /** Use the CUDA execution provider (falls back to CPU per node for ops CUDA lacks). */
  cuda: boolean;
  /** Intra-op threads; default os.availableParallelism() (every core this process may use). */
  threads?: number;
  /** [H, W, C] when the model's input has symbolic spatial dims; must agree with the model when it has fixed ones. */
  inputShape?: [number, number, number];
  /**
   * Run ORT in a worker thread instead of on the calling thread. onnxruntime-node's run is synchronous on its JS
   * thread, so in-thread inference blocks the event loop (gRPC I/O, timers, health checks) for the
   * whole run; a worker keeps it responsive at the cost of one input copy and a thread hand-off per run.
   * Default: true, unless $INFER_ORT_WORKER is 0/false (see useWorker below for the measurement).
   */
  worker?: boolean;
  /** Let idle ORT pool threads spin-wait; default: on in-thread, off in a worker (see onnx-session.ts). */
  spin?: boolean;
  /**
   * Sessions, each in its own worker thread with `threads` intra-op threads, that run batches side by side
   * (Triton's instance count). Default 1. Worker mode only: in-thread runs are synchronous, so a second
   * session there could never run at the same time as the first.
   */
  instances?: number;
  /**
   * Intra-op threads of one more session that takes a batch only when no other batch is running (0 or
   * absent: none). A lone request then gets every core, and under load the single-thread instances run side
   * by side without the barriers of intra-op parallelism. Worker mode only.
   */
  soloThreads?: number;
}

/**
 * An Engine over an ONNX model (bytes, or a path to a .onnx file) whose input is NHWC float32 [N,H,W,C] with a
 * dynamic or fixed N, and whose first output is [N, classes] probabilities (what export-onnx.ts produces).
 */
export async function createOnnxEngine(model: Uint8Array | string, o: OnnxEngineOptions): Promise<Engine> {
  const p = probeOnnxRuntime();
  if (!p.installed) throw new Error(`the onnxruntime backend is unavailable: ${p.reason}`);
  if (o.cuda && !p.cuda) throw new Error(`the onnxruntime-cuda backend is unavailable: ${p.reason}`);
  // The sharing plan is for a CPU engine serving from workers; on a GPU or in-thread, one session.
  const planned = !o.cuda && useWorker(o.worker);
  const plan = planned ? resolveCpuPlan(os.availableParallelism(), o) : undefined;
  const threads = plan?.threads ?? o.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const instances = plan?.instances ?? o.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) throw new Error(`engine instances must be a positive integer, got ${instances}`);
  const soloThreads = plan?.soloThreads ?? o.soloThreads ?? 0;
  if (!Number.isInteger(soloThreads) || soloThreads < 0) throw new Error(`solo threads must be a whole number ≥ 0, got ${soloThreads}`);
  if ((instances > 1 || soloThreads > 0) && !useWorker(o.worker)) {
    throw new Error('several engine instances need worker mode: in-thread sessions run one at a time');
  }
  // In-thread, nothing else runs while ORT does, so its spin-waiting pool threads cost nothing; with a worker
  // the JS thread must wake to deliver each result, and spinning threads starve it on small machines.
  const spec: SessionSpec = { cuda: o.cuda, threads, inputShape: o.inputShape, spin: o.spin ?? !useWorker(o.worker) };
  const info: EngineInfo = {
    backend: o.cuda ? 'onnxruntime-cuda' : 'onnxruntime',
    library: ORT_PACKAGE,
    version: p.version ?? 'unknown',
    threads,
    instances,
    ...(soloThreads > 0 ? { soloThreads } : {}),
    ...(plan ? { plan: plan.reason } : {}),
    executionProvider: o.cuda ? 'CUDAExecutionProvider' : 'CPUExecutionProvider',
  };
  if (!useWorker(o.worker)) {
    const s = await openSession(model, spec);
    return {
      info, inputShape: s.inputShape, numClasses: s.numClasses,
      predict: (batch, n) => s.run(batch, n),
      liveTensors: () => undefined,
      dispose: () => s.release(),
    };
  }
  return workerEngine(model, spec, info, instances, soloThreads);
}

/**
 * Worker mode is the default (docs/decisions/0002-onnx-runtime-worker-thread.md): in-thread, ONNX Runtime's
 * run and its spinning pool threads stall the JS thread that decodes, batches and answers Ping, which cost
 * the served throughput and Ping latency far more than the hand-off to a worker costs. That hand-off is a
 * cost raw measurements should not pay: they pass `worker: false` (bench/perf.ts, rtinfer local) or set
 * INFER_ORT_WORKER=0. An explicit option wins over the environment, which wins over the default.
 */
export const ORT_WORKER_ENV = 'INFER_ORT_WORKER';
function useWorker(explicit: boolean | undefined): boolean {
  if (explicit !== undefined) return explicit;
  const v = process.env[ORT_WORKER_ENV];
  if (v === undefined || v === '') return true;
  return v === '1' || v.toLowerCase() === 'true';
}

/**
 * Which session takes the next batch, from each one's batches in flight (the solo session last when
 * `hasSolo`): the solo session when nothing at all is running, else the pool instance with the fewest in
 * flight (ties: the lowest index, so a lightly loaded pool keeps using the same warm instance).
 */
export function pickInstance(inFlight: readonly number[], hasSolo: boolean): number {
  const poolSize = hasSolo ? inFlight.length - 1 : inFlight.length;
  if (hasSolo && inFlight.every((n) => n === 0)) return poolSize;
  let best = 0;
  for (let i = 1; i < poolSize; i++) if (inFlight[i] < inFlight[best]) best = i;
  return best;
}

/** One worker thread holding one session: the unit the pool below spreads batches over. */
interface WorkerInstance {
  inputShape: [number, number, number];
  numClasses: number;
  /** Batches posted and not yet answered. */
  inFlight(): number;
  run(copy: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

async function startWorker(model: Uint8Array | string, spec: SessionSpec, name: string): Promise<WorkerInstance> {
  const init: WorkerInit = { model, spec, name };
  const worker = new Worker(path.join(__dirname, 'onnx-worker.js'), { workerData: init });
  const pending = new Map<number, { resolve: (out: Float32Array) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let broken: Error | undefined;
  let closed = false;

  const failAll = (e: Error): void => {
    broken ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    worker.unref();
  };
  const ready = new Promise<{ inputShape: [number, number, number]; numClasses: number }>((resolve, reject) => {
    worker.on('message', (m: WorkerReply) => {
      switch (m.type) {
        case 'ready':
          resolve(m);
          break;
        case 'fatal':
          reject(new Error(m.message));
          break;
        case 'result':
        case 'error': {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (pending.size === 0) worker.unref();
          if (m.type === 'result') p?.resolve(m.out);
          else p?.reject(new Error(m.message));
          break;
        }
      }
    });
    worker.on('error', (e) => {
      const err = new Error(`the ONNX Runtime worker failed: ${errorMessage(e)}`);
      reject(err);
      failAll(err);
    });
    worker.on('exit', (code) => {
      const err = new Error(`the ONNX Runtime worker exited (code ${code})${closed ? ' after dispose()' : ''}`);
      reject(err);
      failAll(err);
    });
  });
  let meta: { inputShape: [number, number, number]; numClasses: number };
  try {
    meta = await ready;
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  worker.unref();
  return {
    inputShape: meta.inputShape,
    numClasses: meta.numClasses,
    inFlight: () => pending.size,
    run(copy: Float32Array, n: number): Promise<Float32Array> {
      if (broken) return Promise.reject(broken);
      const id = nextId++;
      return new Promise<Float32Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Referenced only while work is in flight, so an idle engine never keeps the process alive.
        worker.ref();
        worker.postMessage({ id, batch: copy, n } satisfies RunRequest, [copy.buffer as ArrayBuffer]);
      });
    },
    async dispose(): Promise<void> {
      if (closed) return;
      closed = true;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('close');
      // Bounded: a worker that does not exit after releasing its session is terminated.
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * `instances` workers, each with its own session, plus the solo session when soloThreads > 0; pickInstance
 * chooses per batch (docs/decisions/0026-cpu-sharing-plan.md).
 */
async function workerEngine(model: Uint8Array | string, spec: SessionSpec, info: EngineInfo, instances: number, soloThreads: number): Promise<Engine> {
  const specs = Array.from({ length: instances }, () => spec);
  if (soloThreads > 0) specs.push({ ...spec, threads: soloThreads });
  const names = specs.map((_, i) => (i < instances ? `ort-worker-${i + 1}` : 'ort-solo'));
  const started = await Promise.allSettled(specs.map((s, i) => startWorker(model, s, names[i])));
  const all = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(all.map((w) => w.dispose()));
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const pool = all.slice(0, instances);
  const solo = soloThreads > 0 ? all[instances] : undefined;
  const { inputShape, numClasses } = pool[0];
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  return {
    info,
    inputShape,
    numClasses,
    predict(batch: Float32Array, n: number): Promise<Float32Array> {
      if (!Number.isInteger(n) || n < 1) return Promise.reject(new Error(`batch size must be a positive integer, got ${n}`));
      const need = n * perImage;
      if (batch.length < need) {
        return Promise.reject(new Error(`batch holds ${batch.length} floats; ${n} images of ` +
          `${inputShape.join('x')} need ${need}`));
      }
      const pick = all[pickInstance(all.map((w) => w.inFlight()), solo !== undefined)];
      // The caller's batch is only read (Engine contract), so the worker gets its own copy, transferred.
      return pick.run(batch.slice(0, need), n);
    },
    liveTensors: () => undefined,
    async dispose(): Promise<void> {
      await Promise.all(all.map((w) => w.dispose()));
    },
  };
}
