/**
 * Which engine runs the model: a pure decision over probe results (see probe.ts for the side-effecting
 * half), so every combination of "what is installed / is there a GPU / what format is the model" is unit
 * tested without the hardware.
 *
 * `auto` walks BACKEND_NAMES in order — GPU engines when a GPU is visible (ONNX Runtime CUDA first, then
 * tfjs-node-gpu), then the fastest native CPU engine (ONNX Runtime, several times tfjs-wasm on GoogLeNet:
 * docs/decisions/0007-tfjs-models-served-through-onnx-runtime.md; then tfjs-node), then tfjs-wasm, then
 * plain-JS tfjs-cpu — and logs why each was skipped or taken. A backend
 * that cannot run the model's format is skipped in `auto`; requested explicitly, it is an error.
 */
import { BACKEND_NAMES, BackendName, BackendRequest } from './engine';
import type { ModelFormat } from './engine';

export interface PackageProbe {
  installed: boolean;
  version?: string;
  /** Why installed is what it is (resolved path, or the resolution error). */
  reason: string;
}

export interface BackendProbes {
  /** @tensorflow/tfjs-node with its native binding present. */
  tfjsNode: PackageProbe;
  /** @tensorflow/tfjs-node-gpu with its native binding present. */
  tfjsNodeGpu: PackageProbe;
  /** @tensorflow/tfjs-backend-wasm and a WebAssembly runtime. */
  wasm: PackageProbe;
  /** @tensorflow/tfjs (its plain-JS cpu backend is always bundled). */
  cpu: PackageProbe;
  /** onnxruntime-node, and whether its CUDA execution provider library is present. */
  onnxRuntime: { installed: boolean; version?: string; cuda: boolean; reason: string };
  /** An NVIDIA GPU this process can see. */
  gpu: { visible: boolean; reason: string };
}

export interface SelectionInput {
  request: BackendRequest;
  format: ModelFormat;
  probes: BackendProbes;
}

export interface Selection {
  backend: BackendName;
  reason: string;
  log: string[];
}

/** An explicitly requested backend (or, in auto, every backend) cannot run: the message says what to do. */
export class BackendUnavailableError extends Error {
  constructor(message: string, readonly log: string[]) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

interface Verdict {
  ok: boolean;
  /** Why it can (or cannot) run; for an unavailable backend, includes what to install. */
  reason: string;
}

const INSTALL = {
  tfjsNode: 'npm install @tensorflow/tfjs-node (it downloads libtensorflow while installing, so it needs internet)',
  tfjsNodeGpu:
    'npm install @tensorflow/tfjs-node-gpu (needs CUDA 11.2 and cuDNN 8.1 on the host; Dockerfile.gpu sets this up)',
  ort: 'npm install onnxruntime-node',
  ortCuda:
    'reinstall onnxruntime-node with its CUDA 12 provider: npm install onnxruntime-node --onnxruntime-node-install=cuda12 ' +
    '(or ONNXRUNTIME_NODE_INSTALL=cuda12; Linux x64; Dockerfile.gpu does this)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
  cpu: 'npm install @tensorflow/tfjs',
} as const;

/** Is the engine present and its hardware there? */
export function availability(backend: BackendName, p: BackendProbes): Verdict {
  switch (backend) {
    case 'onnxruntime-cuda':
      if (!p.onnxRuntime.installed) {
        return { ok: false, reason: `needs onnxruntime-node (${p.onnxRuntime.reason}): ${INSTALL.ort}` };
      }
      if (!p.gpu.visible) return { ok: false, reason: `needs a visible NVIDIA GPU (${p.gpu.reason})` };
      if (!p.onnxRuntime.cuda) {
        return { ok: false, reason: `needs onnxruntime-node's CUDA execution provider (${p.onnxRuntime.reason}): ${INSTALL.ortCuda}` };
      }
      return { ok: true, reason: `onnxruntime-node ${p.onnxRuntime.version ?? ''} with CUDA provider; GPU: ${p.gpu.reason}` };
    case 'tensorflow-gpu':
      if (!p.tfjsNodeGpu.installed) {
        return { ok: false, reason: `needs @tensorflow/tfjs-node-gpu (${p.tfjsNodeGpu.reason}): ${INSTALL.tfjsNodeGpu}` };
      }
      if (!p.gpu.visible) return { ok: false, reason: `needs a visible NVIDIA GPU (${p.gpu.reason})` };
      return { ok: true, reason: `@tensorflow/tfjs-node-gpu ${p.tfjsNodeGpu.version ?? ''}; GPU: ${p.gpu.reason}` };
    case 'onnxruntime':
      if (!p.onnxRuntime.installed) {
        return { ok: false, reason: `needs onnxruntime-node (${p.onnxRuntime.reason}): ${INSTALL.ort}` };
      }
      return { ok: true, reason: `onnxruntime-node ${p.onnxRuntime.version ?? ''} (native CPU)` };
    case 'tensorflow':
      if (!p.tfjsNode.installed) {
        return { ok: false, reason: `needs @tensorflow/tfjs-node (${p.tfjsNode.reason}): ${INSTALL.tfjsNode}` };
      }
      return { ok: true, reason: `@tensorflow/tfjs-node ${p.tfjsNode.version ?? ''} (native CPU)` };
    case 'wasm':
      if (!p.wasm.installed) return { ok: false, reason: `needs @tensorflow/tfjs-backend-wasm (${p.wasm.reason}): ${INSTALL.wasm}` };
      return { ok: true, reason: `@tensorflow/tfjs-backend-wasm ${p.wasm.version ?? ''}` };
    case 'cpu':
      if (!p.cpu.installed) return { ok: false, reason: `needs @tensorflow/tfjs (${p.cpu.reason}): ${INSTALL.cpu}` };
      return { ok: true, reason: `@tensorflow/tfjs ${p.cpu.version ?? ''} plain-JS cpu backend` };
  }
}

const ORT_BACKENDS: ReadonlySet<BackendName> = new Set(['onnxruntime', 'onnxruntime-cuda']);
const TF_NATIVE_BACKENDS: ReadonlySet<BackendName> = new Set(['tensorflow', 'tensorflow-gpu']);

/** Can this engine run a model of this format at all? */
export function supportsFormat(backend: BackendName, format: ModelFormat): Verdict {
  const ort = ORT_BACKENDS.has(backend);
  switch (format) {
    case 'layers':
      return { ok: true, reason: ort ? 'tfjs layers models are exported to ONNX' : 'tfjs runs layers models' };
    case 'onnx':
      return ort
        ? { ok: true, reason: 'ONNX Runtime runs .onnx models' }
        : { ok: false, reason: 'only onnxruntime / onnxruntime-cuda run .onnx models' };
    case 'graph':
      return ort
        ? { ok: false, reason: 'the ONNX exporter converts tfjs layers models only, not graph models' }
        : { ok: true, reason: 'tfjs runs graph models' };
    case 'saved-model':
      return TF_NATIVE_BACKENDS.has(backend)
        ? { ok: true, reason: "tfjs-node's tf.node.loadSavedModel runs SavedModels" }
        : { ok: false, reason: 'SavedModel directories load only through @tensorflow/tfjs-node (tf.node.loadSavedModel)' };
  }
}

/** For an auto failure: the one thing to install that would make this format run. */
function installHintFor(format: ModelFormat): string {
  switch (format) {
    case 'onnx':
      return `.onnx models need ONNX Runtime: ${INSTALL.ort}`;
    case 'saved-model':
      return `SavedModel directories need TensorFlow: ${INSTALL.tfjsNode}`;
    default:
      return `install at least one engine, e.g. ${INSTALL.ort}`;
  }
}

/** Decide. Throws BackendUnavailableError (with the log so far) when nothing suitable can run. */
export function selectBackend(input: SelectionInput): Selection {
  const { request, format, probes } = input;
  const log: string[] = [];
  if (request !== 'auto') {
    if (!(BACKEND_NAMES as readonly string[]).includes(request)) {
      throw new BackendUnavailableError(
        `unknown backend "${String(request)}"; choose one of auto, ${BACKEND_NAMES.join(', ')}`,
        log,
      );
    }
    const avail = availability(request, probes);
    if (!avail.ok) {
      log.push(`backend ${request}: requested but unavailable: ${avail.reason}`);
      throw new BackendUnavailableError(`--backend ${request} ${avail.reason}`, log);
    }
    const fmt = supportsFormat(request, format);
    if (!fmt.ok) {
      log.push(`backend ${request}: requested but cannot run a ${format} model: ${fmt.reason}`);
      throw new BackendUnavailableError(
        `--backend ${request} cannot run this ${format} model: ${fmt.reason}; use --backend auto or another backend`,
        log,
      );
    }
    const reason = `requested explicitly; ${avail.reason}`;
    log.push(`backend ${request}: ${reason}`);
    return { backend: request, reason, log };
  }
  for (const backend of BACKEND_NAMES) {
    const avail = availability(backend, probes);
    if (!avail.ok) {
      log.push(`auto: skip ${backend}: ${avail.reason}`);
      continue;
    }
    const fmt = supportsFormat(backend, format);
    if (!fmt.ok) {
      log.push(`auto: skip ${backend}: available but cannot run a ${format} model: ${fmt.reason}`);
      continue;
    }
    const reason = `auto: first available in preference order (${BACKEND_NAMES.join(' > ')}); ${avail.reason}; ${fmt.reason}`;
    log.push(`auto: chose ${backend}: ${avail.reason}`);
    return { backend, reason, log };
  }
  throw new BackendUnavailableError(`--backend auto found no engine that can run this ${format} model; ${installHintFor(format)}`, log);
}
