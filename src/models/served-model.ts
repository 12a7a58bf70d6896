/**
 * loadServedModel: `--model`, `--backend` and friends in, a warm Engine and a ModelDescriptor out.
 * The one place where model resolution (manifest.ts), backend choice (probe.ts + select.ts), engines
 * (tfjs*.ts, onnxruntime.ts) and the ONNX export cache meet. Every step is reported through `log`.
 *
 * Precedence for how to feed the model: flags > sidecar manifest > built-in catalog > the model's own
 * input shape > documented defaults (logged).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, BackendRequest, Engine } from '../backends/engine';
import { createOnnxEngine, type OnnxEngineOptions } from '../backends/onnxruntime';
import { probeBackends } from '../backends/probe';
import { BackendUnavailableError, selectBackend } from '../backends/select';
import { createTfjsEngine, type TfjsBackendActivation, type TfjsModel } from '../backends/tfjs';
import { activateTfjsCpu } from '../backends/tfjs-cpu';
import type { TfjsNodeModule } from '../backends/tfjs-native';
import { activateTfjsNode } from '../backends/tfjs-node';
import { activateTfjsNodeGpu } from '../backends/tfjs-node-gpu';
import { activateTfjsWasm } from '../backends/tfjs-wasm';
import { buildBuiltin, findBuiltin, type BuiltinModel } from './catalog';
import { readLabelsFile, resolveLabels } from './labels';
import { resolveModelSource, type ResolvedModelSource } from './manifest';
import { NORMALIZATIONS, type ModelDescriptor, type Normalize, type WeightsKind } from './model';
import { exportCached } from './onnx-cache';
import { isUrl, modelIOHandler } from './tfjs-files';

export interface LoadOptions {
  /** Engine to run on; "auto" picks the fastest available (see select.ts). */
  backend: BackendRequest;
  /** 'googlenet' (default) | path/URL to a tfjs model.json (or its directory) | SavedModel dir | .onnx path/URL | TF-Hub URL. */
  model?: string;
  /** Dir or URL of tfjs layers-format weights for the built-in googlenet; default: seeded synthetic weights. */
  weights?: string;
  /** Labels file (one per line, or a JSON array); default: manifest, else ImageNet for 1000/1001 outputs. */
  labels?: string;
  /** Square input size; default: manifest, else the model's declared input shape, else 224 for built-ins. */
  inputSize?: number;
  /** Pixel normalisation; default: manifest, else the built-in's, else "signed" (logged). */
  normalize?: Normalize;
  /** Intra-op threads for engines that have them; default os.availableParallelism(). */
  threads?: number;
  /**
   * onnxruntime only: run ORT in a worker thread (default, keeps the server's event loop free during inference)
   * or on the calling thread (false: what raw, in-process measurements want). See createOnnxEngine.
   */
  worker?: boolean;
  /** onnxruntime only: sessions running batches side by side, each in its own worker (createOnnxEngine). */
  instances?: number;
  /** onnxruntime only: threads of the session used when nothing else runs (createOnnxEngine's soloThreads). */
  soloThreads?: number;
  /** onnxruntime only: let idle intra-op threads spin-wait (createOnnxEngine's default when absent). */
  spin?: boolean;
  /**
   * Where ONNX exports of tfjs models are cached; default `<project root>/.cache/onnx` (git-ignored, survives
   * restarts and is shared by every checkout user), or `<os.tmpdir()>/realtime-inference/onnx` when the
   * project root is not writable (e.g. installed read-only under node_modules).
   */
  cacheDir?: string;
  /** Seed for synthetic built-in weights; default the model's (GoogLeNet: 2014). */
  seed?: number;
  log?: (msg: string) => void;
}

export interface ServedModel {
  engine: Engine;
  descriptor: ModelDescriptor;
  selection: { backend: BackendName; reason: string; log: string[] };
}

/** Directory holding this project's package.json, found by walking up from this file. */
function projectRoot(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return undefined;
}

export function defaultCacheDir(): string {
  const root = projectRoot();
  if (root) {
    const dir = path.join(root, '.cache', 'onnx');
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {
      // read-only install: fall through to the temp dir
    }
  }
  return path.join(os.tmpdir(), 'realtime-inference', 'onnx');
}

function validate(o: LoadOptions): void {
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1)) {
    throw new Error(`--threads must be a positive integer, got ${o.threads}`);
  }
  if (o.inputSize !== undefined && (!Number.isInteger(o.inputSize) || o.inputSize < 1)) {
    throw new Error(`--input-size must be a positive integer, got ${o.inputSize}`);
  }
  if (o.normalize !== undefined && !(NORMALIZATIONS as readonly string[]).includes(o.normalize)) {
    throw new Error(`--normalize must be one of ${NORMALIZATIONS.join(', ')}, got "${o.normalize}"`);
  }
}

function chooseNormalize(o: LoadOptions, src: ResolvedModelSource, builtin: BuiltinModel | undefined, log: (m: string) => void): Normalize {
  if (o.normalize) {
    log(`normalize: ${o.normalize} (flag)`);
    return o.normalize;
  }
  if (src.manifest?.normalize) {
    log(`normalize: ${src.manifest.normalize} (manifest ${src.manifestPath})`);
    return src.manifest.normalize;
  }
  if (builtin) {
    log(`normalize: ${builtin.normalize} (${builtin.name} default)`);
    return builtin.normalize;
  }
  if (src.location.kind === 'tfhub') {
    log(`normalize: unit (x/255; not given, and TF-Hub image models take [0, 1] by convention; pass --normalize to change)`);
    return 'unit';
  }
  log(`normalize: signed (x/127.5-1; not given by flag or manifest, assuming the tfjs MobileNet convention; pass --normalize if the model expects otherwise)`);
  return 'signed';
}

async function activate(backend: BackendName, threads: number, log: (m: string) => void): Promise<TfjsBackendActivation & { module?: TfjsNodeModule }> {
  switch (backend) {
    case 'wasm':
      return activateTfjsWasm({ threads, log });
    case 'cpu':
      return activateTfjsCpu({ log });
    case 'tensorflow':
      return activateTfjsNode({ threads, log });
    case 'tensorflow-gpu':
      return activateTfjsNodeGpu({ threads, log });
    default:
      throw new Error(`internal: ${backend} is not a tfjs backend`);
  }
}

interface LoadedTfjs {
  model: TfjsModel;
  weights: WeightsKind;
  weightsSource: string;
  graphTopology?: unknown;
}

/** Load (or build) the model on the active tfjs backend. */
async function loadTfjsModel(
  src: ResolvedModelSource,
  builtin: BuiltinModel | undefined,
  o: LoadOptions,
  nativeModule: TfjsNodeModule | undefined,
  log: (m: string) => void,
): Promise<LoadedTfjs> {
  const t0 = performance.now();
  const loc = src.location;
  const done = (what: string): void => log(`model: loaded ${what} in ${(performance.now() - t0).toFixed(0)} ms`);
  switch (loc.kind) {
    case 'builtin': {
      const built = await buildBuiltin(builtin as BuiltinModel, { inputSize: o.inputSize ?? src.manifest?.inputSize, weights: o.weights, seed: o.seed, log });
      return { model: built.model, weights: built.weights, weightsSource: built.weightsSource };
    }
    case 'tfjs': {
      const handler = modelIOHandler(loc.modelJson, loc.json);
      if (src.format === 'layers') {
        const model = await tf.loadLayersModel(handler);
        done(`tfjs layers model ${loc.modelJson}`);
        return { model, weights: 'real', weightsSource: loc.modelJson };
      }
      const model = await tf.loadGraphModel(handler);
      done(`tfjs graph model ${loc.modelJson}`);
      return { model, weights: 'real', weightsSource: loc.modelJson, graphTopology: loc.json.modelTopology };
    }
    case 'tfhub': {
      if (src.format === 'layers') {
        const model = await tf.loadLayersModel(loc.modelJson);
        done(`TF-Hub layers model ${loc.url}`);
        return { model, weights: 'real', weightsSource: loc.url };
      }
      const model = await tf.loadGraphModel(loc.url, { fromTFHub: true });
      done(`TF-Hub graph model ${loc.url}`);
      return { model, weights: 'real', weightsSource: loc.url, graphTopology: loc.json.modelTopology };
    }
    case 'saved-model': {
      if (!nativeModule) throw new Error('internal: SavedModel needs the tfjs-node module');
      const model = await nativeModule.node.loadSavedModel(loc.dir);
      done(`SavedModel ${loc.dir} (tags "serve", signature "serving_default")`);
      return { model, weights: 'real', weightsSource: loc.dir };
    }
    case 'onnx':
      throw new Error('internal: .onnx models run on ONNX Runtime only');
  }
}

function countParams(model: TfjsModel): number {
  if (model instanceof tf.LayersModel) return model.countParams();
  if (model instanceof tf.GraphModel) {
    let n = 0;
    for (const list of Object.values(model.weights)) for (const t of list) n += t.size;
    return n;
  }
  return 0; // a SavedModel does not expose its variables through tfjs-node
}

async function readBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function warmUp(engine: Engine, log: (m: string) => void): Promise<void> {
  const [h, w, c] = engine.inputShape;
  const t0 = performance.now();
  const out = await engine.predict(new Float32Array(h * w * c), 1);
  const ms = performance.now() - t0;
  if (out.length !== engine.numClasses) {
    throw new Error(`warm-up: engine returned ${out.length} values for one image, expected ${engine.numClasses}`);
  }
  let sum = 0;
  for (const v of out) {
    if (!Number.isFinite(v)) throw new Error('warm-up: the model produced NaN or infinite probabilities on a blank image; its weights are broken');
    sum += v;
  }
  if (Math.abs(sum - 1) > 1e-3) throw new Error(`warm-up: probabilities sum to ${sum}, not 1`);
  log(`warm-up: one ${h}x${w}x${c} image in ${ms.toFixed(1)} ms`);
}

/**
 * Select the backend, load or build the model on it (exporting tfjs layers models to ONNX, cached, for
 * onnxruntime*), attach labels, warm up. Throws an Error whose message says what to do (e.g. the npm package
 * to install) when an explicitly requested backend is unavailable or the model cannot be served.
 */
export async function loadServedModel(o: LoadOptions): Promise<ServedModel> {
  const log = o.log ?? (() => {});
  validate(o);
  const threads = o.threads ?? os.availableParallelism();
  const src = await resolveModelSource(o.model ?? 'googlenet', log);
  const builtin = src.location.kind === 'builtin' ? findBuiltin(src.location.name) : undefined;
  if (o.weights && !builtin) {
    throw new Error(`--weights applies to built-in models (googlenet) only; ${src.source} carries its own weights`);
  }
  const normalize = chooseNormalize(o, src, builtin, log);
  const inputSize = o.inputSize ?? src.manifest?.inputSize;
  const wantedShape: [number, number, number] | undefined = inputSize ? [inputSize, inputSize, 3] : undefined;

  const probes = probeBackends();
  log(
    `probe: onnxruntime ${probes.onnxRuntime.installed ? probes.onnxRuntime.version : 'absent'} (cuda ${probes.onnxRuntime.cuda}), ` +
      `tfjs-node ${probes.tfjsNode.installed ? probes.tfjsNode.version : 'absent'}, tfjs-node-gpu ${probes.tfjsNodeGpu.installed ? probes.tfjsNodeGpu.version : 'absent'}, ` +
      `wasm ${probes.wasm.installed ? probes.wasm.version : 'absent'}, GPU ${probes.gpu.visible ? 'visible' : 'none'} (${probes.gpu.reason})`,
  );
  let selection;
  try {
    selection = selectBackend({ request: o.backend, format: src.format, probes });
  } catch (e) {
    if (e instanceof BackendUnavailableError) for (const line of e.log) log(line);
    throw e;
  }
  for (const line of selection.log) log(line);

  let engine: Engine;
  let parameters = 0;
  let weights: WeightsKind = 'real';
  let weightsSource = src.source;
  if (selection.backend === 'onnxruntime' || selection.backend === 'onnxruntime-cuda') {
    const cuda = selection.backend === 'onnxruntime-cuda';
    const onnxOptions: OnnxEngineOptions = { cuda, threads: o.threads, inputShape: wantedShape, worker: o.worker, instances: o.instances, soloThreads: o.soloThreads, spin: o.spin };
    if (src.location.kind === 'onnx') {
      const model = isUrl(src.location.file) ? await readBytes(src.location.file) : src.location.file;
      engine = await createOnnxEngine(model, onnxOptions);
    } else {
      // The export only reads weights; the cpu backend keeps them in plain JS memory, the cheapest place.
      // Not logged: tfjs-cpu runs nothing here, and the log names only the engine that serves.
      await activateTfjsCpu();
      const loaded = await loadTfjsModel(src, builtin, o, undefined, log);
      try {
        if (!(loaded.model instanceof tf.LayersModel)) throw new Error('internal: only layers models are exported to ONNX');
        weights = loaded.weights;
        weightsSource = loaded.weightsSource;
        parameters = countParams(loaded.model);
        const cacheDir = o.cacheDir ?? defaultCacheDir();
        const t0 = performance.now();
        const exp = await exportCached(loaded.model, cacheDir, { source: src.source });
        log(
          `onnx: ${exp.cacheHit ? 'reused cached export' : 'exported'} ${exp.path} (${(exp.bytes.byteLength / 1e6).toFixed(1)} MB) ` +
            `in ${(performance.now() - t0).toFixed(0)} ms`,
        );
        engine = await createOnnxEngine(exp.bytes, onnxOptions);
      } finally {
        if (loaded.model instanceof tf.LayersModel) loaded.model.dispose();
      }
    }
  } else {
    const activation = await activate(selection.backend, threads, log);
    const loaded = await loadTfjsModel(src, builtin, o, activation.module, log);
    weights = loaded.weights;
    weightsSource = loaded.weightsSource;
    parameters = countParams(loaded.model);
    try {
      engine = await createTfjsEngine(loaded.model, { activation, inputShape: wantedShape, graphTopology: loaded.graphTopology, log });
    } catch (e) {
      (loaded.model as { dispose?: () => unknown }).dispose?.();
      throw e;
    }
  }
  log(
    `engine: ${engine.info.backend} via ${engine.info.library} ${engine.info.version}, ${engine.info.executionProvider}, ` +
      `threads ${engine.info.threads || 'engine default'}`,
  );

  try {
    let given: { labels: string[]; source: string } | undefined;
    if (o.labels) given = { labels: readLabelsFile(o.labels), source: o.labels };
    else if (Array.isArray(src.manifest?.labels)) given = { labels: src.manifest.labels, source: `manifest ${src.manifestPath}` };
    else if (typeof src.manifest?.labels === 'string') {
      const file = path.resolve(path.dirname(src.manifestPath ?? '.'), src.manifest.labels);
      given = { labels: readLabelsFile(file), source: file };
    }
    const labels = resolveLabels(engine.numClasses, given, log);
    await warmUp(engine, log);
    const [inputHeight, inputWidth, inputChannels] = engine.inputShape;
    const descriptor: ModelDescriptor = {
      name: src.manifest?.name ?? src.name,
      source: src.source,
      format: src.format,
      inputHeight,
      inputWidth,
      inputChannels,
      normalize,
      labels: labels.labels,
      labelsSource: labels.source,
      weights,
      weightsSource,
      parameters,
    };
    log(
      `model: ${descriptor.name} (${descriptor.format}, ${inputHeight}x${inputWidth}x${inputChannels}, ${engine.numClasses} classes, ` +
        `${(parameters / 1e6).toFixed(2)} M parameters, ${weights} weights from ${weightsSource}) ready on ${selection.backend}`,
    );
    return { engine, descriptor, selection };
  } catch (e) {
    await engine.dispose();
    throw e;
  }
}
