/**
 * Built-in models: name → architecture, input size, normalisation and weights provenance. Today that is
 * GoogLeNet alone; its weights are seeded synthetic ones unless `--weights` supplies real ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  GOOGLENET_DEFAULT_SEED,
  GOOGLENET_INPUT_SIZE,
  applySyntheticWeights,
  buildGoogLeNetArchitecture,
} from './googlenet';
import type { Normalize } from './model';
import { isUrl, loadArtifactsFromFile, readModelJson } from './tfjs-files';

export interface BuiltinModel {
  name: string;
  description: string;
  inputSize: number;
  /**
   * GoogLeNet: "signed" (x/127.5 − 1), the convention of TF-slim's inception_v1 checkpoints, the usual
   * source of real Inception v1 weights in TensorFlow form; it also keeps synthetic activations in range.
   */
  normalize: Normalize;
  defaultSeed: number;
  buildArchitecture(inputSize: number): tf.LayersModel;
  applySyntheticWeights(model: tf.LayersModel, seed: number): void;
}

const BUILTINS: Record<string, BuiltinModel> = {
  googlenet: {
    name: 'googlenet',
    description: 'GoogLeNet / Inception v1 (Szegedy et al. 2014), 9 inception modules, ~7.0 M parameters',
    inputSize: GOOGLENET_INPUT_SIZE,
    normalize: 'signed',
    defaultSeed: GOOGLENET_DEFAULT_SEED,
    buildArchitecture: buildGoogLeNetArchitecture,
    applySyntheticWeights,
  },
};

export function findBuiltin(name: string): BuiltinModel | undefined {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name.toLowerCase()) ? BUILTINS[name.toLowerCase()] : undefined;
}

export function builtinNames(): string[] {
  return Object.keys(BUILTINS);
}

/** model.json location for `--weights DIR|URL|FILE`. */
export function weightsModelJson(weights: string): string {
  if (isUrl(weights)) return new URL(weights).pathname.endsWith('.json') ? weights : `${weights.replace(/\/?$/, '/')}model.json`;
  const abs = path.resolve(weights);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) return path.join(abs, 'model.json');
  return abs;
}

/**
 * Loads tfjs layers-format weights (a model.json + shards, as `model.save()` or tensorflowjs_converter
 * write them) into `model`. Weights are matched by name when every name is present (the normal case for
 * files saved from this architecture), else by position; either way every shape must match, and a
 * mismatch names the weight, both shapes, and the likely cause.
 */
export async function loadWeightsInto(model: tf.LayersModel, weights: string, log: (m: string) => void = () => {}): Promise<string> {
  const jsonPath = weightsModelJson(weights);
  let artifacts: tf.io.ModelArtifacts;
  if (isUrl(jsonPath)) {
    const handler = tf.io.http(jsonPath);
    if (!handler.load) throw new Error('internal: tfjs http handler cannot load');
    artifacts = await handler.load();
  } else {
    if (!fs.existsSync(jsonPath)) {
      throw new Error(`--weights ${weights}: ${jsonPath} not found; expected a directory with a tfjs layers model.json and its weight shards`);
    }
    artifacts = await loadArtifactsFromFile(jsonPath, await readModelJson(jsonPath));
  }
  const specs = artifacts.weightSpecs ?? [];
  if (artifacts.weightData === undefined || specs.length === 0) throw new Error(`--weights ${weights}: ${jsonPath} lists no weights`);
  const named = tf.io.decodeWeights(artifacts.weightData, specs);
  const targets = model.weights;
  try {
    const byName = targets.every((w) => named[w.originalName] !== undefined);
    if (!byName && specs.length !== targets.length) {
      throw new Error(
        `--weights ${weights}: has ${specs.length} weight tensors, ${model.name} has ${targets.length}, and the names do not match ` +
          `(e.g. ${model.name} expects "${targets.find((w) => named[w.originalName] === undefined)?.originalName}"); ` +
          `are these weights for another architecture?`,
      );
    }
    const values = targets.map((w, i) => {
      const t = byName ? named[w.originalName] : named[specs[i].name];
      const want = w.shape as number[];
      if (t.shape.length !== want.length || t.shape.some((d, k) => d !== want[k])) {
        throw new Error(
          `--weights ${weights}: weight "${byName ? w.originalName : specs[i].name}" has shape [${t.shape.join(', ')}] but ` +
            `${model.name}'s "${w.originalName}" needs [${want.join(', ')}]; the file does not match this architecture`,
        );
      }
      return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
    });
    model.setWeights(values);
    log(`weights: loaded ${targets.length} tensors from ${jsonPath} (matched by ${byName ? 'name' : 'position'})`);
  } finally {
    tf.dispose(Object.values(named));
  }
  return jsonPath;
}

export interface BuiltBuiltin {
  model: tf.LayersModel;
  weights: 'real' | 'synthetic';
  weightsSource: string;
}

/** The real MobileNet beside the project in our workspace (../shared is test data, not part of a clone). */
export const WORKSPACE_MOBILENET = '../shared/models/mobilenet_v1_0.25_224/model.json';

/**
 * What to pass for real predictions, most direct first. No GoogLeNet weights ship with the project, so the
 * workspace's real MobileNet is named when it is there; an ONNX model must take NHWC input (onnx-session.ts).
 */
export function realWeightsHint(cwd: string = process.cwd()): string {
  const here = fs.existsSync(path.resolve(cwd, WORKSPACE_MOBILENET)) ? `--model ${WORKSPACE_MOBILENET} --normalize signed; or ` : '';
  return `${here}--model FILE.onnx|URL, an ImageNet classifier with NHWC float input (a Caffe-trained GoogLeNet takes --normalize caffe); or --weights DIR|URL, GoogLeNet weights in tfjs layers format`;
}

/** Build a built-in model with real weights (`weights` given) or seeded synthetic ones. */
export async function buildBuiltin(
  entry: BuiltinModel,
  o: { inputSize?: number; weights?: string; seed?: number; log?: (m: string) => void },
): Promise<BuiltBuiltin> {
  const log = o.log ?? (() => {});
  const inputSize = o.inputSize ?? entry.inputSize;
  const t0 = performance.now();
  const model = entry.buildArchitecture(inputSize);
  try {
    if (o.weights) {
      const src = await loadWeightsInto(model, o.weights, log);
      log(`model: ${entry.name} built with real weights from ${src} in ${(performance.now() - t0).toFixed(0)} ms`);
      return { model, weights: 'real', weightsSource: src };
    }
    const seed = o.seed ?? entry.defaultSeed;
    entry.applySyntheticWeights(model, seed);
    log(
      `model: ${entry.name} built with SYNTHETIC weights (seed ${seed}) in ${(performance.now() - t0).toFixed(0)} ms: ` +
        `the compute is real, the predicted labels are not`,
    );
    return { model, weights: 'synthetic', weightsSource: `seed:${seed}` };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
