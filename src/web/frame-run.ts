/**
 * One measured run of the page: frames due at `fps`, each encoded and sent as a unary Classify, at most
 * `window` in flight; a frame due while the window is full is dropped and counted. It is rtinfer stream's
 * load (measure/load-run.ts: open loop, overflow 'drop', a constant pacer) on the browser's runtime, and
 * its report is filled by the same code (measure/load-report.ts), so every figure — latency from the
 * frame's due time, achieved fps, drops, the server breakdown, the verdict — has rtinfer's definition and
 * the JSON is rtinfer's `--json` document (verb "stream"), which `rtinfer report` renders.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ClassifyRequestSchema, ClassifyResponseSchema, type ClassifyResponse } from '../gen/inference/v1/inference_pb';
import { outcomesPerSlot, type DoneFn } from '../measure/call';
import { runLoadOn, type LoadResult } from '../measure/load-run';
import { constantPacer } from '../measure/pacer';
import { browserLoadRuntime } from './browser-runtime';
import type { FrameEncoder } from './capture';
import { describeFailure, type InferenceClient } from './client';
import type { PageSettings } from './settings';

/** One answered (or failed) frame, for the live view. */
export interface FrameEvent {
  /** The frame's number in its phase (warm-up, then measurement, each from 0). */
  seq: number;
  /** Send → answer, ms (the live charts; the run's figures count from the due time). */
  e2eMs: number;
  response?: ClassifyResponse;
  /** "UNAUTHENTICATED: invalid token" when the call failed. */
  error?: string;
  /** Size of the encoded frame, bytes. */
  bytes: number;
}

export interface FrameRunOptions {
  client: InferenceClient;
  encoder: FrameEncoder;
  settings: PageSettings;
  signal: AbortSignal;
  onFrame(e: FrameEvent): void;
  /** A phase starts: the warm-up (`measured` false), then the measurement. */
  onPhase(measured: boolean): void;
}

/** Runs warm-up and measurement; resolves with what the measured phase recorded. */
export function runFrames(o: FrameRunOptions): Promise<LoadResult> {
  const s = o.settings;
  const outcomes = outcomesPerSlot(s.window);
  const issue = (slot: number, seq: number, done: DoneFn): void => {
    const t0 = performance.now();
    const out = outcomes[slot];
    const finish = (e: Omit<FrameEvent, 'seq' | 'e2eMs'>, fill: () => void): void => {
      fill();
      done(out);
      o.onFrame({ seq, e2eMs: performance.now() - t0, ...e });
    };
    o.encoder
      .encode()
      .then(async (image) => {
        const req = create(ClassifyRequestSchema, { image, topK: s.topK, requestId: String(seq), clientSendUnixNanos: BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) });
        const bytesUp = toBinary(ClassifyRequestSchema, req).length;
        try {
          const res = await o.client.classify(req, { timeoutMs: s.deadlineMs });
          finish({ response: res, bytes: image.length }, () => {
            out.code = 0;
            out.bytesUp = bytesUp;
            out.bytesDown = toBinary(ClassifyResponseSchema, res).length;
            out.images = 1;
            out.serverTiming = res.timing;
            out.details = undefined;
            out.replica = res.serverId || undefined;
          });
        } catch (err) {
          const f = describeFailure(err);
          finish({ error: f.text, bytes: image.length }, () => {
            out.code = f.code;
            out.bytesUp = bytesUp;
            out.bytesDown = 0;
            out.images = 0;
            out.serverTiming = undefined;
            out.details = f.text.slice(f.text.indexOf(': ') + 2);
            out.replica = undefined;
          });
        }
      })
      .catch((err: unknown) => {
        // Encoding failed: the frame never left; counted as a failed call so it is never silently lost.
        const text = `UNKNOWN: ${err instanceof Error ? err.message : String(err)}`;
        finish({ error: text, bytes: 0 }, () => {
          out.code = 2;
          out.bytesUp = 0;
          out.bytesDown = 0;
          out.images = 0;
          out.serverTiming = undefined;
          out.details = text;
          out.replica = undefined;
        });
      });
  };
  return runLoadOn(
    {
      mode: 'open',
      concurrency: s.window,
      overflow: 'drop',
      pacer: () => constantPacer(s.fps),
      durationS: s.durationS,
      warmupS: s.warmupS,
      issue,
      signal: o.signal,
      onPhase: o.onPhase,
      drainS: Math.max(1, s.deadlineMs / 1000 + 1),
    },
    browserLoadRuntime,
  );
}
