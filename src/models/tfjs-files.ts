/**
 * Reading and writing TensorFlow.js model files (model.json + binary weight shards) from disk or http(s).
 * Plain @tensorflow/tfjs registers no file:// handler in Node (only tfjs-node does), so disk access is
 * done here with tfjs's own JSON/weights parsing (getModelArtifactsForJSON), identically on every backend.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** The parsed model.json at a path or URL, with a clear error on failure. */
export async function readModelJson(source: string): Promise<tf.io.ModelJSON> {
  let text: string;
  if (isUrl(source)) {
    let res: Response;
    try {
      res = await fetch(source);
    } catch (e) {
      throw new Error(`could not fetch ${source}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
    }
    if (!res.ok) throw new Error(`could not fetch ${source}: HTTP ${res.status} ${res.statusText}`);
    text = await res.text();
  } else {
    try {
      text = await fs.promises.readFile(source, 'utf8');
    } catch (e) {
      throw new Error(`cannot read model file ${source}: ${(e as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || !('modelTopology' in json)) {
    throw new Error(`${source} is not a TensorFlow.js model.json (no "modelTopology")`);
  }
  return json as tf.io.ModelJSON;
}

/** Model artifacts (topology + weight specs + weight bytes) from a model.json on disk. */
export async function loadArtifactsFromFile(modelJsonPath: string, json?: tf.io.ModelJSON): Promise<tf.io.ModelArtifacts> {
  const modelJson = json ?? (await readModelJson(modelJsonPath));
  const dir = path.dirname(modelJsonPath);
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const rel of group.paths) {
        const file = path.join(dir, rel);
        let buf: Buffer;
        try {
          buf = await fs.promises.readFile(file);
        } catch (e) {
          throw new Error(`weights shard ${rel} listed in ${modelJsonPath} cannot be read: ${(e as Error).message}`);
        }
        buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
      }
    }
    return [specs, tf.io.concatenateArrayBuffers(buffers)];
  });
}

/** An IOHandler for a model.json path or URL: disk via loadArtifactsFromFile, http(s) via tfjs's own. */
export function modelIOHandler(source: string, json?: tf.io.ModelJSON): tf.io.IOHandler {
  if (isUrl(source)) return tf.io.http(source);
  return { load: () => loadArtifactsFromFile(source, json) };
}

/** Writes a layers model as model.json + one weights shard into `dir` (created). */
export async function saveLayersModelToDir(model: tf.LayersModel, dir: string): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const shard = 'weights.bin';
  const jsonPath = path.join(dir, 'model.json');
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData;
      const bytes = data === undefined ? new Uint8Array(0) : new Uint8Array(tf.io.concatenateArrayBuffers(data));
      await fs.promises.writeFile(path.join(dir, shard), bytes);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs ?? [] }],
      };
      await fs.promises.writeFile(jsonPath, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return jsonPath;
}
