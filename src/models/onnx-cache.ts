/**
 * On-disk cache of exported ONNX models, so a restart does not re-export. The key is a SHA-256 over the
 * exporter version, the model's topology JSON and every weight (name, dtype, shape, bytes): any change to the
 * architecture, the weights or the exporter gives a new file. Files are written to a temporary name and renamed,
 * so a concurrent reader never sees half a model.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { EXPORTER_VERSION, exportLayersModelToOnnx, type ExportOptions } from './export-onnx';

export interface CachedExport {
  path: string;
  bytes: Uint8Array;
  cacheHit: boolean;
  key: string;
}

/**
 * The cache key of `model`: hex SHA-256 of exporter version + topology + weights. `exporterVersion` is a
 * parameter only so a test can show that another exporter's export is never reused.
 */
export function exportKey(model: tf.LayersModel, exporterVersion: string = EXPORTER_VERSION): string {
  const h = createHash('sha256');
  h.update(`export-onnx v${exporterVersion}\n`);
  h.update(JSON.stringify(model.toJSON(undefined, false)));
  const tensors = model.getWeights();
  model.weights.forEach((v, i) => {
    const t = tensors[i];
    const data = t.dataSync();
    // originalName, not name: tfjs suffixes names (`conv1/kernel_1`) when a model is built twice in one process.
    h.update(`\n${v.originalName} ${t.dtype} [${t.shape.join(',')}]\n`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  return h.digest('hex');
}

/** The ONNX export of `model`, from `<cacheDir>/<key>.onnx` when present, else exported and stored there. */
export async function exportCached(model: tf.LayersModel, cacheDir: string, options: ExportOptions = {}): Promise<CachedExport> {
  const key = exportKey(model);
  const file = path.join(cacheDir, `${key}.onnx`);
  try {
    const bytes = await fs.promises.readFile(file);
    if (bytes.byteLength > 0) return { path: file, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), cacheHit: true, key };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const bytes = exportLayersModelToOnnx(model, options);
  await fs.promises.mkdir(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await fs.promises.writeFile(tmp, bytes);
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw new Error(`could not write the ONNX export cache ${file}: ${(e as Error).message}`);
  }
  return { path: file, bytes, cacheHit: false, key };
}
