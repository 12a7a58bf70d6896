import type { Timing } from '../gen/inference/v1/inference';

/**
 * The server's own per-request breakdown, accumulated into means: the stage fields of the generated
 * `Timing` message (bigint nanoseconds), so responses are passed in without conversion.
 */
export type ServerTiming = Pick<Timing, 'queueNanos' | 'decodeNanos' | 'preprocessNanos' | 'inferenceNanos' | 'postprocessNanos' | 'totalNanos' | 'batchSize'>;

export interface TimingAccumulator {
  count: number;
  queueNs: number;
  decodeNs: number;
  preprocessNs: number;
  inferenceNs: number;
  postprocessNs: number;
  totalNs: number;
  batchSize: number;
  /** Σ (client e2e − server total), ns: what the network, gRPC framing and both runtimes add. */
  overheadNs: number;
}

export function createTimingAccumulator(): TimingAccumulator {
  return { count: 0, queueNs: 0, decodeNs: 0, preprocessNs: 0, inferenceNs: 0, postprocessNs: 0, totalNs: 0, batchSize: 0, overheadNs: 0 };
}

/** Adds one response's timing; `e2eNs` is the client's latency of the same request (from actual send). */
export function addTiming(a: TimingAccumulator, t: ServerTiming, e2eNs: number): void {
  const total = Number(t.totalNanos);
  a.count++;
  a.queueNs += Number(t.queueNanos);
  a.decodeNs += Number(t.decodeNanos);
  a.preprocessNs += Number(t.preprocessNanos);
  a.inferenceNs += Number(t.inferenceNanos);
  a.postprocessNs += Number(t.postprocessNanos);
  a.totalNs += total;
  a.batchSize += t.batchSize;
  a.overheadNs += Math.max(0, e2eNs - total);
}

export interface TimingSummary {
  /** Responses that carried a server timing. */
  count: number;
  queue_ms: number;
  decode_ms: number;
  preprocess_ms: number;
  inference_ms: number;
  postprocess_ms: number;
  /** Server receive → response ready. */
  server_total_ms: number;
  /** Server total − (queue + decode + preprocess + inference + postprocess), floored at 0. */
  server_other_ms: number;
  mean_batch_size: number;
  /** Mean of (client e2e − server total) per request, floored at 0 per request. */
  client_overhead_ms: number;
}

export function summarizeTiming(a: TimingAccumulator): TimingSummary {
  const n = a.count || 1;
  const ms = (ns: number): number => ns / n / 1e6;
  const parts = a.queueNs + a.decodeNs + a.preprocessNs + a.inferenceNs + a.postprocessNs;
  return {
    count: a.count,
    queue_ms: ms(a.queueNs),
    decode_ms: ms(a.decodeNs),
    preprocess_ms: ms(a.preprocessNs),
    inference_ms: ms(a.inferenceNs),
    postprocess_ms: ms(a.postprocessNs),
    server_total_ms: ms(a.totalNs),
    server_other_ms: Math.max(0, ms(a.totalNs - parts)),
    mean_batch_size: a.count === 0 ? 0 : a.batchSize / a.count,
    client_overhead_ms: ms(a.overheadNs),
  };
}
