/**
 * Local mode (the seed's "Local Mode"): the same model, same preprocessing, run in-process with no
 * network and no serving layer — the baseline that gRPC, the batcher and the network add to. It reports
 * through src/measure exactly like the remote verbs, with server_timing filled from the in-process steps
 * (queue = 0, batch = 1) and "client-side overhead" ≈ 0 by construction.
 *
 * Preprocessing is the server's own (src/server/preprocess.ts: decodeImage + normalizeInto), so local and
 * served numbers cannot differ by a different resize or normalisation. That module depends only on sharp
 * and src/models; it belongs below src/server (see the final report).
 */
import { loadServedModel, ServedModel } from '../models/served-model';
import type { BackendRequest } from '../backends/engine';
import type { Normalize } from '../models/model';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS, normalizeInto } from '../models/preprocess';
import { outcomesPerSlot, type DoneFn, type IssueFn } from '../measure/call';
import type { ServerTiming } from '../measure/timing';
import { Status } from '../shared/grpc-status';

export interface LocalModelOptions {
  backend: BackendRequest;
  model?: string;
  weights?: string;
  normalize?: Normalize;
  threads?: number;
  log?: (m: string) => void;
}

export function loadLocal(o: LocalModelOptions): Promise<ServedModel> {
  return loadServedModel({ backend: o.backend, model: o.model, weights: o.weights, normalize: o.normalize, threads: o.threads, log: o.log,
    // In-process mode is the baseline the network and serving layer add to: no worker hand-off either.
    worker: false });
}

export interface LocalPrediction {
  timing: ServerTiming;
  top: Array<{ class_index: number; label: string; probability: number }>;
}

/** decode → normalise → predict → top-k, each step timed like the server's Timing message. */
export async function classifyLocal(m: ServedModel, bytes: Uint8Array, topK: number, input?: Float32Array): Promise<LocalPrediction> {
  const t0 = process.hrtime.bigint();
  const d = m.descriptor;
  const img = await decodeImage(bytes, { width: d.inputWidth, height: d.inputHeight, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
  const x = input ?? new Float32Array(d.inputWidth * d.inputHeight * d.inputChannels);
  const preprocessNanos = normalizeInto(img.rgb, x, 0, d.normalize);
  const t1 = process.hrtime.bigint();
  const probs = await m.engine.predict(x, 1);
  const t2 = process.hrtime.bigint();
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, topK);
  const top = idx.map((i) => ({ class_index: i, label: d.labels[i] ?? String(i), probability: probs[i] }));
  const t3 = process.hrtime.bigint();
  return {
    top,
    timing: { queueNanos: 0n, decodeNanos: img.decodeNanos, preprocessNanos, inferenceNanos: t2 - t1, postprocessNanos: t3 - t2, totalNanos: t3 - t0, batchSize: 1 },
  };
}

/**
 * An issuer for the load drivers: one in-process classification per request, one input buffer and one
 * outcome object per slot.
 */
export function localIssuer(m: ServedModel, images: Uint8Array[], topK: number, slots: number): IssueFn {
  const d = m.descriptor;
  const inputs = Array.from({ length: slots }, () => new Float32Array(d.inputWidth * d.inputHeight * d.inputChannels));
  const outcomes = outcomesPerSlot(slots);
  return (slot: number, seq: number, done: DoneFn): void => {
    const bytes = images[seq % images.length];
    const o = outcomes[slot];
    o.bytesUp = bytes.length;
    classifyLocal(m, bytes, topK, inputs[slot]).then(
      (r) => {
        o.code = Status.OK;
        o.images = 1;
        o.serverTiming = r.timing;
        o.details = undefined;
        done(o);
      },
      (e: unknown) => {
        o.code = Status.INVALID_ARGUMENT;
        o.images = 0;
        o.serverTiming = undefined;
        o.details = e instanceof Error ? e.message : String(e);
        done(o);
      },
    );
  };
}
