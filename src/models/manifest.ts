/**
 * What `--model` names, resolved without loading any engine: the built-in GoogLeNet, a TensorFlow.js
 * model.json (layers or graph, auto-detected) on disk or at a URL, a TF-Hub/Kaggle model URL, a SavedModel
 * directory, or an .onnx file; plus the optional sidecar "serving manifest" that says how to feed it.
 *
 * Sidecar: a JSON file beside the model named `<model file without extension>.serving.json`
 * (model.json → model.serving.json, resnet.onnx → resnet.serving.json; for a SavedModel directory,
 * `<dir>/serving.json`), with any of { "name", "inputSize", "normalize", "labels" } where labels is a file
 * path relative to the manifest (one label per line or a JSON array) or an inline array of strings.
 * Command-line flags override the manifest.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { findBuiltin } from './catalog';
import { NORMALIZATIONS, type ModelFormat, type Normalize } from './model';
import { isUrl, readModelJson } from './tfjs-files';

export interface ServingManifest {
  name?: string;
  inputSize?: number;
  normalize?: Normalize;
  /** A labels file (path relative to the manifest, or URL) or the labels themselves. */
  labels?: string | string[];
}

export type ModelLocation =
  | { kind: 'builtin'; name: string }
  /** model.json on disk or at a URL; `json` is already parsed. */
  | { kind: 'tfjs'; modelJson: string; json: tf.io.ModelJSON }
  /** TF-Hub / Kaggle handle; loaded with tf.loadGraphModel(url, { fromTFHub: true }) for graph models. */
  | { kind: 'tfhub'; url: string; modelJson: string; json: tf.io.ModelJSON }
  | { kind: 'saved-model'; dir: string }
  | { kind: 'onnx'; file: string };

export interface ResolvedModelSource {
  location: ModelLocation;
  format: ModelFormat;
  /** Canonical source string for the descriptor: "builtin:googlenet", a path or a URL. */
  source: string;
  /** Default display name (manifest name wins). */
  name: string;
  manifest?: ServingManifest;
  /** Where the manifest came from; relative label paths resolve against its directory. */
  manifestPath?: string;
}

/** layers or graph, from model.json's "format" field, else from the shape of its topology. */
export function detectTfjsFormat(json: tf.io.ModelJSON, source: string): 'layers' | 'graph' {
  const format = json.format;
  if (format === 'layers-model') return 'layers';
  if (format === 'graph-model') return 'graph';
  const topology = json.modelTopology as Record<string, unknown> | undefined;
  if (topology && Array.isArray(topology.node)) return 'graph';
  if (topology && (typeof topology.model_config === 'object' || typeof topology.class_name === 'string')) return 'layers';
  throw new Error(
    `${source}: cannot tell whether this is a tfjs layers or graph model (format "${String(format)}", ` +
      `modelTopology has neither "node" nor "model_config"/"class_name")`,
  );
}

const TFHUB_HOSTS = /^https?:\/\/(tfhub\.dev|www\.kaggle\.com|kaggle\.com)\//i;

export function isTfHubUrl(s: string): boolean {
  return TFHUB_HOSTS.test(s);
}

/** The model.json URL tfjs derives for a TF-Hub handle (same rule as tf.loadGraphModel's fromTFHub). */
export function tfHubModelJsonUrl(url: string): string {
  return `${url.endsWith('/') ? url : `${url}/`}model.json?tfjs-format=file`;
}

/** Parse and validate a serving manifest. */
export function parseServingManifest(text: string, where: string): ServingManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`serving manifest ${where} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`serving manifest ${where} must be a JSON object`);
  }
  const r = raw as Record<string, unknown>;
  const known = new Set(['name', 'inputSize', 'normalize', 'labels']);
  const unknown = Object.keys(r).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new Error(`serving manifest ${where}: unknown field(s) ${unknown.join(', ')}; allowed: ${[...known].join(', ')}`);
  }
  const m: ServingManifest = {};
  if (r.name !== undefined) {
    if (typeof r.name !== 'string' || r.name === '') throw new Error(`serving manifest ${where}: "name" must be a non-empty string`);
    m.name = r.name;
  }
  if (r.inputSize !== undefined) {
    if (!Number.isInteger(r.inputSize) || (r.inputSize as number) < 1) {
      throw new Error(`serving manifest ${where}: "inputSize" must be a positive integer`);
    }
    m.inputSize = r.inputSize as number;
  }
  if (r.normalize !== undefined) {
    if (!(NORMALIZATIONS as readonly unknown[]).includes(r.normalize)) {
      throw new Error(`serving manifest ${where}: "normalize" must be one of ${NORMALIZATIONS.join(', ')}`);
    }
    m.normalize = r.normalize as Normalize;
  }
  if (r.labels !== undefined) {
    const ok = typeof r.labels === 'string' || (Array.isArray(r.labels) && r.labels.every((l) => typeof l === 'string'));
    if (!ok) throw new Error(`serving manifest ${where}: "labels" must be a file path or an array of strings`);
    m.labels = r.labels as string | string[];
  }
  return m;
}

/** Sidecar path (or URL) for a model file path (or URL). */
export function sidecarFor(modelPath: string): string {
  if (isUrl(modelPath)) {
    const u = new URL(modelPath);
    u.pathname = u.pathname.replace(/(\.[^./]*)?$/, '.serving.json');
    return u.toString();
  }
  const ext = path.extname(modelPath);
  return path.join(path.dirname(modelPath), `${path.basename(modelPath, ext)}.serving.json`);
}

async function readSidecar(where: string, log: (m: string) => void): Promise<ServingManifest | undefined> {
  if (isUrl(where)) {
    let res: Response;
    try {
      res = await fetch(where);
    } catch (e) {
      log(`manifest: could not fetch ${where} (${(e as Error).message}); continuing without one`);
      return undefined;
    }
    if (res.status === 404 || res.status === 403) return undefined;
    if (!res.ok) throw new Error(`serving manifest ${where}: HTTP ${res.status} ${res.statusText}`);
    const m = parseServingManifest(await res.text(), where);
    log(`manifest: ${where}: ${JSON.stringify(m)}`);
    return m;
  }
  if (!fs.existsSync(where)) return undefined;
  const m = parseServingManifest(fs.readFileSync(where, 'utf8'), where);
  log(`manifest: ${where}: ${JSON.stringify(m)}`);
  return m;
}

function nameFromPath(p: string): string {
  const base = path.basename(p, path.extname(p));
  // "…/mobilenet_v1_0.25_224/model.json" is better named by its directory.
  return base === 'model' ? path.basename(path.dirname(p)) : base;
}

/** Resolve `--model` (default "googlenet"). Reads files and, for URLs, fetches model.json. */
export async function resolveModelSource(model: string, log: (m: string) => void = () => {}): Promise<ResolvedModelSource> {
  const builtin = findBuiltin(model);
  if (builtin) {
    return { location: { kind: 'builtin', name: builtin.name }, format: 'layers', source: `builtin:${builtin.name}`, name: builtin.name };
  }

  if (isTfHubUrl(model)) {
    const modelJson = tfHubModelJsonUrl(model);
    log(`model: ${model} is a TF-Hub/Kaggle handle; fetching ${modelJson}`);
    const json = await readModelJson(modelJson);
    const format = detectTfjsFormat(json, modelJson);
    const name = new URL(model).pathname.split('/').filter(Boolean).slice(-3).join('/');
    return { location: { kind: 'tfhub', url: model, modelJson, json }, format, source: model, name };
  }

  if (isUrl(model)) {
    const pathname = new URL(model).pathname;
    if (pathname.endsWith('.onnx')) {
      const manifest = await readSidecar(sidecarFor(model), log);
      return { location: { kind: 'onnx', file: model }, format: 'onnx', source: model, name: nameFromPath(pathname), manifest, manifestPath: manifest ? sidecarFor(model) : undefined };
    }
    const modelJson = pathname.endsWith('.json') ? model : `${model.replace(/\/?$/, '/')}model.json`;
    const json = await readModelJson(modelJson);
    const format = detectTfjsFormat(json, modelJson);
    const manifest = await readSidecar(sidecarFor(modelJson), log);
    return {
      location: { kind: 'tfjs', modelJson, json },
      format,
      source: modelJson,
      name: nameFromPath(new URL(modelJson).pathname),
      manifest,
      manifestPath: manifest ? sidecarFor(modelJson) : undefined,
    };
  }

  const abs = path.resolve(model);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new Error(
      `--model ${model}: no such file or directory, and not a built-in model (built-in: googlenet); ` +
        `give a tfjs model.json, a directory holding one, a SavedModel directory, an .onnx file, or an http(s) URL`,
    );
  }
  if (stat.isDirectory()) {
    if (fs.existsSync(path.join(abs, 'model.json'))) return resolveFile(path.join(abs, 'model.json'), log);
    if (fs.existsSync(path.join(abs, 'saved_model.pb')) || fs.existsSync(path.join(abs, 'saved_model.pbtxt'))) {
      const manifestPath = path.join(abs, 'serving.json');
      const manifest = await readSidecar(manifestPath, log);
      return {
        location: { kind: 'saved-model', dir: abs },
        format: 'saved-model',
        source: abs,
        name: path.basename(abs),
        manifest,
        manifestPath: manifest ? manifestPath : undefined,
      };
    }
    throw new Error(`--model ${model}: directory has neither model.json (TensorFlow.js) nor saved_model.pb (SavedModel)`);
  }
  return resolveFile(abs, log);
}

async function resolveFile(file: string, log: (m: string) => void): Promise<ResolvedModelSource> {
  const manifestPath = sidecarFor(file);
  const manifest = await readSidecar(manifestPath, log);
  const common = { source: file, name: nameFromPath(file), manifest, manifestPath: manifest ? manifestPath : undefined };
  if (file.toLowerCase().endsWith('.onnx')) return { location: { kind: 'onnx', file }, format: 'onnx', ...common };
  if (file.toLowerCase().endsWith('.json')) {
    const json = await readModelJson(file);
    const format = detectTfjsFormat(json, file);
    log(`model: ${file} is a tfjs ${format} model`);
    return { location: { kind: 'tfjs', modelJson: file, json }, format, ...common };
  }
  throw new Error(`--model ${file}: unrecognised file type; expected a tfjs model.json or an .onnx file`);
}
