/**
 * The CPU-budget limit of served images/s: what the machine's cores could serve if decoding and inference
 * shared them without waste. Measured as process CPU time (not wall) per image, each stage alone on this
 * thread: decodeImage with one libvips thread (the server's default), normalisation, and a single-thread ONNX
 * Runtime session (the server's instances under load) at its cheapest batch size. The limit is
 * cores × 1000 ÷ (decode + normalise + inference core-ms).
 */
import * as os from 'node:os';
import { loadServedModel } from '../src/models/served-model';
import { configureSharp, decodeImage, DEFAULT_DECODE_THREADS, DEFAULT_MAX_INPUT_PIXELS, normalizeInto } from '../src/models/preprocess';

export interface CpuBudget {
  cores: number;
  decode_core_ms: number;
  normalize_core_ms: number;
  /** Cheapest over batch 1, 2 and 4. */
  inference_core_ms: number;
  inference_core_ms_by_batch: Record<string, number>;
  limit_images_per_s: number;
}

function coreMs(c: NodeJS.CpuUsage): number {
  return (c.user + c.system) / 1000;
}

/** `load` chooses the model as the server does (e.g. { model: path, normalize: 'signed' }); {} is GoogLeNet. */
export async function measureCpuBudget(image: Buffer, load: { model?: string; normalize?: 'signed' }, seconds = 2): Promise<CpuBudget> {
  configureSharp({ concurrency: DEFAULT_DECODE_THREADS });
  const served = await loadServedModel({ backend: 'onnxruntime', ...load, threads: 1, worker: false, log: () => undefined });
  try {
    const { engine, descriptor: d } = served;
    const dec = { width: d.inputWidth, height: d.inputHeight, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS };
    for (let i = 0; i < 10; i++) await decodeImage(image, dec);
    let n = 0;
    let c0 = process.cpuUsage();
    let t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await decodeImage(image, dec);
      n++;
    }
    const decode = coreMs(process.cpuUsage(c0)) / n;

    const per = d.inputHeight * d.inputWidth * d.inputChannels;
    const x = new Float32Array(4 * per).fill(0.1);
    const rgb = (await decodeImage(image, dec)).rgb;
    c0 = process.cpuUsage();
    for (let i = 0; i < 200; i++) normalizeInto(rgb, x, 0, d.normalize);
    const normalize = coreMs(process.cpuUsage(c0)) / 200;

    const byBatch: Record<string, number> = {};
    for (const b of [1, 2, 4]) {
      await engine.predict(x.subarray(0, b * per), b);
      let imgs = 0;
      c0 = process.cpuUsage();
      t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) {
        await engine.predict(x.subarray(0, b * per), b);
        imgs += b;
      }
      byBatch[`batch ${b}`] = coreMs(process.cpuUsage(c0)) / imgs;
    }
    const inference = Math.min(...Object.values(byBatch));
    const cores = os.availableParallelism();
    return {
      cores, decode_core_ms: decode, normalize_core_ms: normalize, inference_core_ms: inference,
      inference_core_ms_by_batch: byBatch, limit_images_per_s: (cores * 1000) / (decode + normalize + inference),
    };
  } finally {
    await served.engine.dispose();
  }
}
