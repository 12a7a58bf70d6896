/**
 * Dynamic micro-batching in front of one Engine, shared by every caller (unary and stream).
 *
 * Policy (the Triton dynamic batcher's, reduced to what we need):
 * - A bounded FIFO queue of decoded images. Full queue → RESOURCE_EXHAUSTED at once (no waiting, no growth).
 * - Admission control (--max-queue) counts what waits before the queue too: a request is admitted (admit())
 *   before its image is decoded, and holds its place until it is queued or gives up. Bounding only the
 *   queue let a burst pile up in front of the decoder when decoding, not inference, is the slow stage; so a
 *   burst beyond --max-queue is refused at once, whichever stage is the bottleneck
 *   (docs/decisions/0008-admission-control-counts-decoding.md).
 * - A batch starts when an engine slot is free (at most `maxConcurrentBatches` in flight) and either the
 *   queue holds `maxBatch` items or the oldest item has waited `maxQueueDelayUs`. With a delay of 0, a lone
 *   request runs at once and batches form only from requests that queued while the engine was busy, so
 *   batching never adds latency at low load.
 * - Items whose deadline passed while queued are dropped before inference (DEADLINE_EXCEEDED, counted);
 *   items whose caller went away (AbortSignal) leave the queue at once (CANCELLED, counted).
 * - Fair sharing between callers (an `owner` per admission: the server passes the client connection). One
 *   owner may hold at most `maxQueuePerOwner` places, so a greedy client is refused while room is left for
 *   others; and a batch is filled round robin across owners (the owner served least recently first, FIFO
 *   within an owner), so a polite client's request runs next instead of behind a greedy client's backlog.
 *
 * Memory: one Float32Array of maxBatch × h × w × c per concurrent batch slot, allocated once and reused.
 * Each request's uint8 RGB image (from sharp) is normalised straight into its slot of that buffer when the
 * batch is assembled, so there is no per-request float buffer and no extra copy. The engine gets a
 * subarray view of the first n images; results are subarray views of the engine's output.
 */
import type { Engine } from '../backends/engine';
import type { Normalize } from '../models/model';
import { createOwnerRoundRobin } from './owner-round-robin';
import { cancelled, deadlineExceeded, resourceExhausted, ServiceError, unavailable } from './errors';
import { status } from '@grpc/grpc-js';
import { normalizeInto } from '../models/preprocess';

export interface BatcherOptions {
  /** Largest batch handed to the engine. */
  maxBatch: number;
  /** How long the oldest queued item may wait for the batch to fill, in microseconds. 0 = never wait. */
  maxQueueDelayUs: number;
  /** Items that may wait (not counting those already running). */
  maxQueue: number;
  /** Places one owner may hold (decoding + queued). Default maxQueue (no per-owner limit). */
  maxQueuePerOwner?: number;
  /** Batches that may run on the engine at once. Default 1. */
  maxConcurrentBatches?: number;
  normalize: Normalize;
  /** Time source; tests pass a fake one to check the policy deterministically. */
  clock?: BatcherClock;
}

export interface BatcherClock {
  /** Monotonic nanoseconds. */
  now(): bigint;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: BatcherClock = {
  now: () => process.hrtime.bigint(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatchItemInput {
  /** h × w × c uint8 pixels, RGB, HWC — decodeImage()'s output. */
  rgb: Uint8Array;
  /** Monotonic-clock deadline (ns, same clock as BatcherClock.now), if the caller has one. */
  deadlineNs?: bigint;
  /**
   * Aborted when the caller goes away; a queued item is then removed. Abort with DEADLINE_ABORT_REASON when
   * the call's deadline is why (grpc-js's deadline timer and our deadlineNs can disagree by a millisecond).
   */
  signal?: AbortSignal;
}

export const DEADLINE_ABORT_REASON = 'deadline';

/** Owners whose last batch slot is remembered beyond those holding places (fair sharing). */
const LAST_SERVED_LIMIT = 4096;
const ownerOf = (p: { owner: string }): string => p.owner;

export interface BatchItemResult {
  /** numClasses probabilities (a view into the batch output; do not keep it beyond the response). */
  probabilities: Float32Array;
  batchSize: number;
  /** Enqueued → its batch started. */
  queueNanos: bigint;
  /** The engine's predict for the whole batch. */
  inferenceNanos: bigint;
  /** uint8 → float normalisation of this item into the batch buffer. */
  normalizeNanos: bigint;
}

export interface BatcherStats {
  queued: number;
  /** Admitted (admit()) and not yet queued: being decoded. */
  decoding: number;
  inFlightBatches: number;
  admitted: number;
  rejectedQueueFull: number;
  deadlineDropped: number;
  cancelled: number;
  batches: number;
  batchedItems: number;
  failedBatches: number;
}

/** A place held by admit() for one image that is not queued yet. */
export interface Admission {
  /** Queues the image; the place passes to it. */
  submit(item: BatchItemInput): Promise<BatchItemResult>;
  /** Gives the place up (the image never reaches the queue). No-op after submit or a first release. */
  release(): void;
}

export interface Batcher {
  /**
   * Holds a place for an image that still has work to do before it can queue (decoding). Throws
   * RESOURCE_EXHAUSTED when the places held plus the queue reach maxQueue or `owner` already holds
   * maxQueuePerOwner of them, UNAVAILABLE once drain() began. `owner` defaults to one shared owner.
   */
  admit(owner?: string): Admission;
  /** Queues an image that holds no place; UNAVAILABLE once drain() began. */
  submit(item: BatchItemInput): Promise<BatchItemResult>;
  stats(): BatcherStats;
  /**
   * Stops admitting (UNAVAILABLE) and resolves when the work already admitted has finished: images still
   * being decoded are queued and run when they arrive, so a graceful shutdown finishes them too.
   */
  drain(): Promise<void>;
  /**
   * Gives up on what is left (used when the grace period ran out): fails everything queued with UNAVAILABLE,
   * and so will a submit from a place still decoding; drain() then waits only for batches on the engine.
   */
  abortQueued(reason: string): void;
}

interface Pending {
  input: BatchItemInput;
  owner: string;
  enqueuedNs: bigint;
  resolve(r: BatchItemResult): void;
  reject(e: ServiceError): void;
  onAbort?: () => void;
}

export function createBatcher(engine: Engine, o: BatcherOptions): Batcher {
  const clock = o.clock ?? realClock;
  const maxConcurrent = Math.max(1, o.maxConcurrentBatches ?? 1);
  if (!(o.maxBatch >= 1)) throw new Error(`maxBatch must be ≥ 1 (got ${o.maxBatch})`);
  if (!(o.maxQueue >= 1)) throw new Error(`maxQueue must be ≥ 1 (got ${o.maxQueue})`);
  if (!(o.maxQueueDelayUs >= 0)) throw new Error(`maxQueueDelayUs must be ≥ 0 (got ${o.maxQueueDelayUs})`);
  const [h, w, c] = engine.inputShape;
  const itemSize = h * w * c;
  const delayNs = BigInt(Math.round(o.maxQueueDelayUs * 1000));
  const perOwner = Math.max(1, Math.min(o.maxQueue, o.maxQueuePerOwner ?? o.maxQueue));
  /** Places held (decoding + queued) per owner; an owner holding none is deleted. */
  const held = new Map<string, number>();
  /** Whose turn a batch slot is; owners holding places are never forgotten. */
  const turns = createOwnerRoundRobin(LAST_SERVED_LIMIT);
  const hold = (owner: string, d: number): void => {
    const n = (held.get(owner) ?? 0) + d;
    if (n > 0) held.set(owner, n);
    else held.delete(owner);
  };
  const holding = (): ReadonlyMap<string, number> => held;

  // Batch buffers are allocated on first use, so a server that never batches pays for one only.
  const freeBuffers: Float32Array[] = [];
  let buffersMade = 0;
  const queue: Pending[] = [];
  let inFlight = 0;
  let timer: unknown;
  let timerDueNs: bigint | undefined;
  let closed = false;
  /** Set by abortQueued: the reason late arrivals from the decoder are refused with. */
  let abandoned: string | undefined;
  let idleWaiters: Array<() => void> = [];
  /** Places held by admit() and not yet submitted or released. */
  let decoding = 0;
  const st = {
    admitted: 0,
    rejectedQueueFull: 0,
    deadlineDropped: 0,
    cancelled: 0,
    batches: 0,
    batchedItems: 0,
    failedBatches: 0,
  };

  const batcher: Batcher = {
    admit,
    submit,
    stats: () => ({ ...st, queued: queue.length, decoding, inFlightBatches: inFlight }),
    drain,
    abortQueued,
  };

  function admit(owner = ''): Admission {
    // Refused before decoding starts: a shutting-down server spends no work on a request it will not run.
    if (closed) throw unavailable('server is shutting down');
    const waiting = decoding + queue.length;
    if (waiting >= o.maxQueue) {
      st.rejectedQueueFull++;
      throw resourceExhausted(
        `server busy: queue is full (${waiting} waiting, --max-queue ${o.maxQueue}) with ${decoding} decoding and ${queue.length} queued for a batch; retry later`,
      );
    }
    const mine = held.get(owner) ?? 0;
    if (mine >= perOwner) {
      st.rejectedQueueFull++;
      throw resourceExhausted(
        `server busy: this connection already has ${mine} images waiting, its share of the queue (--max-queue-per-connection ${perOwner}); retry later`,
      );
    }
    decoding++;
    hold(owner, 1);
    let placeHeld = true;
    const release = (): void => {
      if (!placeHeld) return;
      placeHeld = false;
      decoding--;
      hold(owner, -1);
      notifyIdle();
    };
    return {
      submit(input) {
        const hadPlace = placeHeld;
        if (placeHeld) {
          placeHeld = false;
          decoding--;
        }
        // Admitted before drain() began, so it still runs, unless the grace period ran out meanwhile. The
        // owner's place passes to the queued item (enqueue keeps it; a refusal gives it back).
        let result: Promise<BatchItemResult>;
        if (abandoned !== undefined) {
          if (hadPlace) hold(owner, -1);
          result = Promise.reject(unavailable(abandoned));
        } else result = enqueue(input, owner, hadPlace);
        notifyIdle(); // a drain() may have been waiting for this last image to leave the decoder
        return result;
      },
      release,
    };
  }

  function submit(input: BatchItemInput): Promise<BatchItemResult> {
    if (closed) return Promise.reject(unavailable('server is shutting down'));
    return enqueue(input, '', false);
  }

  /** `placeHeld`: the owner's place was counted by admit() and passes to the queued item. */
  function enqueue(input: BatchItemInput, owner: string, placeHeld: boolean): Promise<BatchItemResult> {
    const refuse = (e: ServiceError): Promise<BatchItemResult> => {
      if (placeHeld) hold(owner, -1);
      return Promise.reject(e);
    };
    if (input.rgb.length !== itemSize) {
      return refuse(new ServiceError(status.INTERNAL, `image has ${input.rgb.length} values, model input needs ${itemSize}`));
    }
    if (input.signal?.aborted) {
      if (input.signal.reason === DEADLINE_ABORT_REASON) {
        st.deadlineDropped++;
        return refuse(deadlineExceeded('deadline passed before the request was queued'));
      }
      st.cancelled++;
      return refuse(cancelled('request was cancelled before it was queued'));
    }
    if (queue.length >= o.maxQueue) {
      st.rejectedQueueFull++;
      return refuse(resourceExhausted(`server busy: batching queue is full (${queue.length} waiting, --max-queue ${o.maxQueue}); retry later`));
    }
    if (!placeHeld) hold(owner, 1);
    return new Promise<BatchItemResult>((resolve, reject) => {
      const p: Pending = { input, owner, enqueuedNs: clock.now(), resolve, reject };
      if (input.signal) {
        p.onAbort = () => removeAborted(p);
        input.signal.addEventListener('abort', p.onAbort, { once: true });
      }
      queue.push(p);
      st.admitted++;
      schedule();
    });
  }

  function removeAborted(p: Pending): void {
    const i = queue.indexOf(p);
    if (i < 0) return; // already running: its result is simply not used
    queue.splice(i, 1);
    hold(p.owner, -1);
    const dl = p.input.deadlineNs;
    if (p.input.signal?.reason === DEADLINE_ABORT_REASON || (dl !== undefined && clock.now() >= dl)) {
      st.deadlineDropped++;
      p.reject(deadlineExceeded('deadline passed while the request waited in the batching queue'));
    } else {
      st.cancelled++;
      p.reject(cancelled('request was cancelled while queued'));
    }
    if (queue.length === 0) clearTimer();
    notifyIdle();
  }

  function detach(p: Pending): void {
    if (p.onAbort && p.input.signal) p.input.signal.removeEventListener('abort', p.onAbort);
  }

  function clearTimer(): void {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    timerDueNs = undefined;
  }

  /** Decides whether a batch starts now, or when the oldest item's delay runs out. */
  function schedule(): void {
    while (inFlight < maxConcurrent && queue.length > 0) {
      dropExpired();
      if (queue.length === 0) break;
      const waited = clock.now() - queue[0].enqueuedNs;
      if (queue.length >= o.maxBatch || waited >= delayNs || closed) {
        clearTimer();
        runBatch(takeRoundRobin(Math.min(o.maxBatch, queue.length)));
        continue;
      }
      const dueNs = queue[0].enqueuedNs + delayNs;
      if (timerDueNs !== dueNs) {
        clearTimer();
        timerDueNs = dueNs;
        const ms = Number(dueNs - clock.now()) / 1e6;
        timer = clock.setTimeout(() => {
          timer = undefined;
          timerDueNs = undefined;
          schedule();
        }, Math.max(0, ms));
      }
      break;
    }
  }

  function dropExpired(): void {
    const now = clock.now();
    for (let i = 0; i < queue.length; ) {
      const p = queue[i];
      if (p.input.deadlineNs !== undefined && now >= p.input.deadlineNs) {
        queue.splice(i, 1);
        detach(p);
        hold(p.owner, -1);
        st.deadlineDropped++;
        p.reject(deadlineExceeded('deadline passed while the request waited in the batching queue'));
      } else i++;
    }
  }

  /**
   * Takes n items off the queue for a batch: each pick goes to the owner served least recently (one never
   * served first; ties to the oldest item), its oldest item.
   */
  function takeRoundRobin(n: number): Pending[] {
    const out: Pending[] = [];
    for (let k = 0; k < n; k++) {
      const [p] = queue.splice(turns.pick(queue, ownerOf), 1);
      hold(p.owner, -1);
      turns.served(p.owner, holding);
      out.push(p);
    }
    return out;
  }

  function takeBuffer(): Float32Array {
    const b = freeBuffers.pop();
    if (b) return b;
    buffersMade++;
    if (buffersMade > maxConcurrent) throw new Error('batcher: more batch buffers than concurrent batches');
    return new Float32Array(o.maxBatch * itemSize);
  }

  function runBatch(items: Pending[]): void {
    inFlight++;
    const startNs = clock.now();
    const buf = takeBuffer();
    const n = items.length;
    const normNs: bigint[] = new Array<bigint>(n);
    for (let i = 0; i < n; i++) {
      detach(items[i]);
      normNs[i] = normalizeInto(items[i].input.rgb, buf, i * itemSize, o.normalize);
    }
    const t0 = process.hrtime.bigint();
    // Promise.resolve().then: a predict that throws synchronously is handled like one that rejects.
    Promise.resolve()
      .then(() => engine.predict(buf.subarray(0, n * itemSize), n))
      .then(
        (probs) => {
          const inferenceNanos = process.hrtime.bigint() - t0;
          const nc = engine.numClasses;
          if (probs.length < n * nc) throw new Error(`engine returned ${probs.length} values for ${n}×${nc}`);
          st.batches++;
          st.batchedItems += n;
          for (let i = 0; i < n; i++) {
            items[i].resolve({
              probabilities: probs.subarray(i * nc, (i + 1) * nc),
              batchSize: n,
              queueNanos: startNs - items[i].enqueuedNs,
              inferenceNanos,
              normalizeNanos: normNs[i],
            });
          }
        },
      )
      .catch((err: unknown) => {
        st.failedBatches++;
        // The engine's own message stays in the log (service.ts logs the cause): it can name paths,
        // library internals and shapes that are no business of a client.
        const e = new ServiceError(status.INTERNAL, 'inference failed (see the server log)', { cause: err });
        for (const it of items) it.reject(e);
      })
      .finally(() => {
        freeBuffers.push(buf);
        inFlight--;
        schedule();
        notifyIdle();
      });
  }

  function notifyIdle(): void {
    const decodingDone = decoding === 0 || abandoned !== undefined;
    if (queue.length === 0 && inFlight === 0 && decodingDone && idleWaiters.length > 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      for (const w of ws) w();
    }
  }

  function drain(): Promise<void> {
    closed = true;
    schedule(); // closed: whatever is queued runs now, without waiting for the delay
    return new Promise((resolve) => {
      idleWaiters.push(resolve);
      notifyIdle();
    });
  }

  function abortQueued(reason: string): void {
    closed = true;
    abandoned = reason;
    clearTimer();
    for (const p of queue.splice(0)) {
      detach(p);
      hold(p.owner, -1);
      p.reject(unavailable(reason));
    }
    notifyIdle();
  }

  return batcher;
}
