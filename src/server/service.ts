/**
 * The InferenceService handlers: thin, typed by src/gen. A Classify request's trip:
 *   receive → decodeImage (sharp, off-thread) → batcher (queue → normalise into the batch → engine) → top-k
 *   → response with the timing of each hop.
 * A request carrying `tensor` (raw uint8 RGB of the model's input size) skips decodeImage and the decoder
 * gate and goes straight to the batcher, admitted like an image; its decode_nanos is 0.
 *
 * Behaviour a client relies on (also in the README):
 * - top_k 0 means 5; a top_k above the number of classes is clamped to it (all classes, best first) rather
 *   than refused, so "give me everything" needs no prior GetServerInfo call.
 * - Every error is a gRPC status with a message written for the caller (errors.ts); unexpected errors are
 *   INTERNAL with a generic message and logged in full.
 * - ClassifyStream answers every frame exactly once, in the order the frames arrived (stream-window.ts:
 *   reorder buffer and flow control; frames are still decoded and batched concurrently). A bad frame —
 *   undecodable image or bytes that are not a ClassifyRequest at all — gets a response with `error` set and
 *   the stream goes on.
 *   The stream ends after the client half-closes and every pending response is written. When the client
 *   cancels or disconnects, its queued frames leave the batching queue.
 * - Admission (--max-queue) is the batcher's: a request asks it for a place before its image is decoded.
 * - Request messages are decoded by a wrapper that never throws, so a malformed protobuf becomes
 *   INVALID_ARGUMENT (grpc-js would otherwise answer INTERNAL and, on a stream, end it).
 */
import { setMaxListeners } from 'node:events';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import {
  ClassifyRequest,
  ClassifyResponse,
  GetServerInfoRequest,
  GetServerInfoResponse,
  InferenceServiceService,
  type InferenceServiceServer,
  type ModelRef,
  PingRequest,
  type PingResponse,
  type Prediction,
  Timing,
} from '../gen/inference/v1/inference';
import type { ModelDescriptor } from '../models/model';
import { DEADLINE_ABORT_REASON, type Batcher, type BatchItemResult } from './batcher';
import { cancelled, deadlineExceeded, describeError, invalidArgument, toStatus } from './errors';
import { statusName } from '../shared/grpc-status';
import type { Logger } from './log';
import type { ServerMetrics } from './metrics';
import { decodeImage, type DecodeOptions } from '../models/preprocess';
import { provenance } from './server-info';
import { createStreamWindow } from './stream-window';
import { createFairGate, type FairGate } from './fair-gate';
import { publicSourceName } from '../shared/source-name';
import { tensorBytes, tensorShapeText } from '../shared/model-input';
import { monoToUnixNanos, unixNanos } from './wall-clock';
import { createPingSessions, SESSION_HEADER, sessionIdProblem, type PingSessions, type SessionCounters } from './ping-sessions';

export const DEFAULT_TOP_K = 5;

export interface ServiceContext {
  descriptor: ModelDescriptor;
  numClasses: number;
  batcher: Batcher;
  /** Decode settings; width/height are the model input. */
  decode: DecodeOptions;
  maxMessageBytes: number;
  /** Largest PingRequest.response_bytes (--max-ping-response-bytes). Default: what one message can carry. */
  maxPingResponseBytes?: number;
  /** Answer of GetServerInfo (static for the life of the server). */
  serverInfo: GetServerInfoResponse;
  log: Logger;
  metrics?: ServerMetrics;
  /** Frames of one ClassifyStream in flight before the server stops reading that stream. Default 32. */
  streamWindow?: number;
  /** Per-session Ping counters (ping-sessions.ts); a fresh bounded store when not given. */
  pingSessions?: PingSessions;
  /** Images decoded at once, let in round robin by connection (fair-gate.ts). Default: libuv's pool size. */
  decodeGate?: FairGate;
  /** This replica's name, in every response (server_id). */
  serverId: string;
}

/**
 * No wider than libuv's thread pool, where sharp decodes (a wider gate would queue inside libuv again), nor
 * than the CPUs: a decode is CPU-bound, and more at once only slows each, including a polite client's.
 */
export function defaultDecodeConcurrency(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  const pool = Number.isInteger(n) && n > 0 ? n : 4;
  return Math.max(1, Math.min(pool, os.availableParallelism()));
}

/** Set on a request whose bytes were not a valid message (see safeDeserialize). */
const DECODE_ERROR = Symbol('decodeError');
type Incoming<T> = T & { [DECODE_ERROR]?: string };

function safeDeserialize<T>(decode: (b: Buffer) => T, empty: () => T, what: string) {
  return (b: Buffer): Incoming<T> => {
    try {
      return decode(b) as Incoming<T>;
    } catch (err) {
      const bad = empty() as Incoming<T>;
      bad[DECODE_ERROR] = `message is not a valid ${what}: ${err instanceof Error ? err.message : String(err)}`;
      return bad;
    }
  };
}

/** `method` of the generated definition with safeDeserialize's decoder for its request message. */
function withSafeDecode<M, T>(method: M, message: { decode(b: Buffer): T; create(): T }, what: string): Omit<M, 'requestDeserialize'> & { requestDeserialize: (b: Buffer) => Incoming<T> } {
  return { ...method, requestDeserialize: safeDeserialize((b: Buffer) => message.decode(b), () => message.create(), what) };
}

/** The generated service definition with decoders that turn a malformed message into a value, not a throw. */
export const inferenceServiceDefinition = {
  ...InferenceServiceService,
  classify: withSafeDecode(InferenceServiceService.classify, ClassifyRequest, 'inference.v1.ClassifyRequest'),
  classifyStream: withSafeDecode(InferenceServiceService.classifyStream, ClassifyRequest, 'inference.v1.ClassifyRequest'),
  ping: withSafeDecode(InferenceServiceService.ping, PingRequest, 'inference.v1.PingRequest'),
  getServerInfo: withSafeDecode(InferenceServiceService.getServerInfo, GetServerInfoRequest, 'inference.v1.GetServerInfoRequest'),
} as const;

/** The largest response we build stays this far under the max message size (field tags, seq, stamps). */
const PING_OVERHEAD_BYTES = 96;
let zeroPadding = Buffer.alloc(0);
/** Padding is never mutated, so every response can share one zero-filled buffer. */
function padding(n: number): Buffer {
  if (zeroPadding.length < n) zeroPadding = Buffer.alloc(n);
  return zeroPadding.subarray(0, n);
}

/** Longest request_id accepted: it is echoed in the response and written to the log. */
export const MAX_REQUEST_ID_BYTES = 128;

/** What every response says about the model: its name and provenance, never where it was loaded from. */
export function modelRef(d: ModelDescriptor): ModelRef {
  return { name: d.name, weights: provenance(d.weights), weightsSource: publicSourceName(d.weightsSource) };
}

export interface InferenceService {
  handlers: InferenceServiceServer;
  /**
   * Shutdown: every open ClassifyStream stops reading, answers each frame it read and ends (OK when the
   * client had half-closed, else UNAVAILABLE saying that later frames were not read).
   */
  stopStreams(): void;
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(probs: Float32Array, k: number): number[] {
  const n = probs.length;
  k = Math.min(k, n);
  if (k <= 0) return [];
  if (k > 32) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => probs[b] - probs[a] || a - b);
    return idx.slice(0, k);
  }
  // Small k (the usual case): one pass keeping a sorted list of k, no allocation per class.
  const best: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = probs[i];
    if (best.length === k && !(v > probs[best[k - 1]])) continue;
    let j = best.length === k ? k - 1 : best.length;
    while (j > 0 && v > probs[best[j - 1]]) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}

interface Work {
  signal: AbortSignal;
  /** The client connection, for the batcher's fair share. */
  owner: string;
  /** Monotonic deadline of the call, if any. */
  deadlineNs?: bigint;
}

/**
 * A request_id over MAX_REQUEST_ID_BYTES: the request is refused, and the id is neither echoed nor logged
 * (a shortened copy is, so the caller can still find it).
 */
function requestIdProblem(req: { requestId: string }): string | undefined {
  const n = Buffer.byteLength(req.requestId, 'utf8');
  if (n <= MAX_REQUEST_ID_BYTES) return undefined;
  req.requestId = `${req.requestId.slice(0, 32)}…`;
  return `request_id is ${n} bytes, over the limit of ${MAX_REQUEST_ID_BYTES}`;
}

function throwIfAborted(signal: AbortSignal, while_: string): void {
  if (!signal.aborted) return;
  throw signal.reason === DEADLINE_ABORT_REASON ? deadlineExceeded(`deadline passed while the image was ${while_}`) : cancelled(`request was cancelled while the image was ${while_}`);
}

function callDeadlineNs(call: { getDeadline(): grpc.Deadline }): bigint | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(ms)) return undefined;
  return process.hrtime.bigint() + BigInt(Math.round((ms - Date.now()) * 1e6));
}

/**
 * grpc-js reports both a client cancel and an expired deadline as 'cancelled'; tell them apart so deadline
 * drops are counted as such (the server's timer may fire a hair before our own copy of the deadline).
 */
function abortOnCancel(call: { on(e: 'cancelled', f: () => void): unknown }, ac: AbortController, deadlineNs: bigint | undefined): void {
  call.on('cancelled', () => {
    const byDeadline = deadlineNs !== undefined && process.hrtime.bigint() >= deadlineNs - 5_000_000n;
    ac.abort(byDeadline ? DEADLINE_ABORT_REASON : 'cancelled');
  });
}

export function createInferenceService(ctx: ServiceContext): InferenceService {
  const ref = modelRef(ctx.descriptor);
  const pingSessions = ctx.pingSessions ?? createPingSessions();
  const decodeGate = ctx.decodeGate ?? createFairGate(defaultDecodeConcurrency());
  const streamWindow = Math.max(1, ctx.streamWindow ?? 32);
  const expectedTensorBytes = tensorBytes(ctx.decode.width, ctx.decode.height);
  const maxPingResponse = Math.min(ctx.maxPingResponseBytes ?? Infinity, ctx.maxMessageBytes - PING_OVERHEAD_BYTES);
  /** Open ClassifyStreams, each with what makes it stop reading and end (stopStreams). */
  const openStreams = new Set<{ drain(): void }>();
  let stopping = false;

  /** Classifies one request; throws ServiceError. `timing` is filled as far as the request got. */
  async function classifyOne(req: Incoming<ClassifyRequest>, work: Work, timing: Timing): Promise<Prediction[]> {
    if (req[DECODE_ERROR]) throw invalidArgument(req[DECODE_ERROR]);
    const idProblem = requestIdProblem(req);
    if (idProblem) throw invalidArgument(idProblem);
    const tensor = req.tensor.length > 0;
    if (tensor && req.image.length > 0) {
      throw invalidArgument(`both image (${req.image.length} bytes) and tensor (${req.tensor.length} bytes) are set; set one: image for encoded bytes, tensor for raw pixels`);
    }
    if (!tensor && req.image.length === 0) throw invalidArgument('image is empty (0 bytes): set ClassifyRequest.image to an encoded JPEG/PNG/WebP');
    if (tensor && req.tensor.length !== expectedTensorBytes) {
      throw invalidArgument(`tensor is ${req.tensor.length} bytes; this model takes ${tensorShapeText(ctx.decode.width, ctx.decode.height)}`);
    }
    const k = req.topK === 0 ? DEFAULT_TOP_K : Math.min(req.topK, ctx.numClasses);
    // RESOURCE_EXHAUSTED when --max-queue images already wait, or this connection holds its share of them
    const place = ctx.batcher.admit(work.owner);
    let pending: Promise<BatchItemResult>;
    let gateNanos = 0n;
    try {
      // A tensor is already the model's pixels: no decoder slot to wait for, nothing to decode (decode_nanos 0).
      let rgb: Uint8Array = req.tensor;
      if (!tensor) {
        const gate0 = process.hrtime.bigint();
        const release = await decodeGate.acquire(work.owner);
        gateNanos = process.hrtime.bigint() - gate0;
        let decoded: Awaited<ReturnType<typeof decodeImage>>;
        try {
          throwIfAborted(work.signal, 'waiting for the decoder');
          decoded = await decodeImage(req.image, ctx.decode);
        } finally {
          release();
        }
        timing.decodeNanos = decoded.decodeNanos;
        throwIfAborted(work.signal, 'being decoded');
        rgb = decoded.rgb;
      }
      pending = place.submit({ rgb, deadlineNs: work.deadlineNs, signal: work.signal });
    } finally {
      place.release(); // no-op once submitted
    }
    const r = await pending;
    const post0 = process.hrtime.bigint();
    // Queue time: waiting for a decoder slot plus waiting for a batch.
    timing.queueNanos = r.queueNanos + gateNanos;
    timing.preprocessNanos = r.normalizeNanos;
    timing.inferenceNanos = r.inferenceNanos;
    timing.batchSize = r.batchSize;
    const preds = topK(r.probabilities, k).map((i) => ({
      classIndex: i,
      label: ctx.descriptor.labels[i] ?? `class ${i}`,
      probability: r.probabilities[i],
    }));
    timing.postprocessNanos = process.hrtime.bigint() - post0;
    return preds;
  }

  function finishTiming(timing: Timing, recvMono: bigint): void {
    const end = process.hrtime.bigint();
    timing.totalNanos = end - recvMono;
    timing.serverSendUnixNanos = monoToUnixNanos(end);
  }

  function noteFailure(code: grpc.status, err: unknown, method: string, requestId: string): void {
    const s = toStatus(err);
    if (s.internal || code === grpc.status.INTERNAL) {
      const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
      ctx.log.error('request failed', { method, requestId, error: describeError(cause) });
    } else ctx.log.debug('request rejected', { method, requestId, code: statusName(code), message: s.message });
    if (ctx.metrics) {
      if (code === grpc.status.RESOURCE_EXHAUSTED) ctx.metrics.dropped.inc({ reason: 'queue_full' });
      else if (code === grpc.status.DEADLINE_EXCEEDED) ctx.metrics.dropped.inc({ reason: 'deadline' });
      else if (code === grpc.status.CANCELLED) ctx.metrics.dropped.inc({ reason: 'cancelled' });
    }
  }

  const classify: InferenceServiceServer['classify'] = (call, callback) => {
    const recvMono = process.hrtime.bigint();
    const req = call.request as Incoming<ClassifyRequest>;
    const timing = Timing.fromPartial({});
    timing.serverReceiveUnixNanos = monoToUnixNanos(recvMono);
    timing.clientSendUnixNanos = req.clientSendUnixNanos;
    const ac = new AbortController();
    const deadlineNs = callDeadlineNs(call);
    abortOnCancel(call, ac, deadlineNs);
    classifyOne(req, { signal: ac.signal, deadlineNs, owner: call.getPeer() }, timing).then(
      (predictions) => {
        finishTiming(timing, recvMono);
        ctx.metrics?.observeTiming(timing);
        callback(null, { requestId: req.requestId, predictions, model: ref, timing, error: undefined, serverId: ctx.serverId });
      },
      (err: unknown) => {
        const s = toStatus(err);
        noteFailure(s.code, err, 'Classify', req.requestId);
        callback({ code: s.code, details: s.message });
      },
    );
  };

  const classifyStream: InferenceServiceServer['classifyStream'] = (call) => {
    if (stopping) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server is shutting down', metadata: new grpc.Metadata() });
      return;
    }
    const owner = call.getPeer();
    const ac = new AbortController();
    let halfClosed = false;
    let cutShort = false;
    // Every frame in flight (up to the window) listens on this one signal; without this Node warns about a
    // possible listener leak at 11 (the listeners are removed as frames leave the queue).
    setMaxListeners(streamWindow + 16, ac.signal);
    const deadlineNs = callDeadlineNs(call);
    // Stamped at write time: a frame held back for an earlier one includes that wait in its total.
    const answers = createStreamWindow<{ resp: ClassifyResponse; recvMono: bigint }>(
      {
        write: ({ resp, recvMono }) => {
          finishTiming(resp.timing!, recvMono);
          return call.write(resp);
        },
        onceDrain: (fn) => call.once('drain', fn),
        pause: () => call.pause(),
        resume: () => call.resume(),
        end: () => {
          openStreams.delete(open);
          if (!cutShort || halfClosed) return void call.end();
          call.emit('error', {
            code: grpc.status.UNAVAILABLE,
            details: 'server is shutting down: every frame read was answered; frames sent after the last answer were not read, send them again elsewhere',
            metadata: new grpc.Metadata(),
          });
        },
      },
      streamWindow,
    );
    const open = {
      drain: () => {
        cutShort = true;
        call.pause();
        answers.halfClose();
      },
    };
    openStreams.add(open);

    call.on('data', (req: Incoming<ClassifyRequest>) => {
      if (cutShort) return; // read after shutdown began: not answered (the stream's status says so)
      const answer = answers.arrive();
      if (!answer) return;
      const recvMono = process.hrtime.bigint();
      const timing = Timing.fromPartial({});
      timing.serverReceiveUnixNanos = monoToUnixNanos(recvMono);
      timing.clientSendUnixNanos = req.clientSendUnixNanos;
      classifyOne(req, { signal: ac.signal, deadlineNs, owner }, timing).then(
        (predictions) => {
          ctx.metrics?.observeTiming({ ...timing, totalNanos: process.hrtime.bigint() - recvMono });
          ctx.metrics?.streamFrames.inc({ code: 'OK' });
          answer({ resp: { requestId: req.requestId, predictions, model: ref, timing, error: undefined, serverId: ctx.serverId }, recvMono });
        },
        (err: unknown) => {
          const s = toStatus(err);
          noteFailure(s.code, err, 'ClassifyStream', req.requestId);
          ctx.metrics?.streamFrames.inc({ code: statusName(s.code) });
          answer({
            resp: {
              requestId: req.requestId,
              predictions: [],
              model: ref,
              timing,
              error: { code: s.code, codeName: statusName(s.code), message: s.message },
              serverId: ctx.serverId,
            },
            recvMono,
          });
        },
      );
    });
    call.on('end', () => {
      halfClosed = true;
      answers.halfClose();
    });
    call.on('cancelled', () => {
      openStreams.delete(open);
      answers.stop(); // queued frames of this stream leave the batching queue (abortOnCancel)
    });
    abortOnCancel(call, ac, deadlineNs);
    call.on('error', (err) => {
      ctx.log.debug('stream error', { error: describeError(err) });
      openStreams.delete(open);
      answers.stop();
      ac.abort();
    });
  };

  const ping: InferenceServiceServer['ping'] = (call, callback) => {
    const recvUnix = unixNanos();
    const req = call.request as Incoming<PingRequest>;
    if (req[DECODE_ERROR]) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: req[DECODE_ERROR] });
      return;
    }
    const session = call.metadata.get(SESSION_HEADER)[0];
    let counters: SessionCounters = { received: 0n, highestSeq: 0n };
    if (session !== undefined) {
      const id = String(session);
      const problem = sessionIdProblem(id);
      if (problem) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
        return;
      }
      counters = pingSessions.count(id, req.seq);
    }
    const echoed = req.echoPayload ? req.payload.length : 0;
    const budget = ctx.maxMessageBytes - PING_OVERHEAD_BYTES;
    if (req.responseBytes > maxPingResponse && maxPingResponse < budget) {
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details: `response_bytes ${req.responseBytes} is over the limit of ${maxPingResponse} (--max-ping-response-bytes); send more probes for more volume`,
      });
      return;
    }
    if (req.responseBytes + echoed > budget) {
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details:
          `response_bytes ${req.responseBytes}` +
          (echoed ? ` + echoed payload ${echoed}` : '') +
          ` exceeds what one response may carry (${budget} bytes: max message size ${ctx.maxMessageBytes} − ${PING_OVERHEAD_BYTES})`,
      });
      return;
    }
    const resp: PingResponse = {
      seq: req.seq,
      payload: req.echoPayload ? req.payload : Buffer.alloc(0),
      padding: padding(req.responseBytes),
      serverReceiveUnixNanos: recvUnix,
      serverSendUnixNanos: 0n,
      clientSendUnixNanos: req.clientSendUnixNanos,
      payloadBytesReceived: req.payload.length,
      sessionPingsReceived: counters.received,
      sessionHighestSeq: counters.highestSeq,
      serverId: ctx.serverId,
    };
    resp.serverSendUnixNanos = unixNanos();
    callback(null, resp);
  };

  const getServerInfo: InferenceServiceServer['getServerInfo'] = (_call, callback) => {
    callback(null, ctx.serverInfo);
  };

  return {
    handlers: { classify, classifyStream, ping, getServerInfo },
    stopStreams() {
      stopping = true;
      for (const s of [...openStreams]) s.drain();
    },
  };
}
