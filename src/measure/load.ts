/**
 * The load manager (perf_analyzer's LoadManager, ghz's runner): drives an abstract call under a closed
 * loop (C workers, each sends its next request when the previous one ends) or an open loop (requests
 * leave on a schedule from a Pacer, at most `concurrency` in flight; the rest wait in a client-side
 * queue and their latency still counts from the *intended* send time — no coordinated omission).
 * It knows nothing about gRPC or models, so the remote client and the in-process local mode share it.
 *
 * Hot-loop discipline (the client's noise floor is part of every number): one preallocated slot per
 * in-flight request, one `done` function for the whole run (no per-call closures here), timestamps
 * taken right around the call, nothing printed inside the timed region.
 */
import { performance } from 'node:perf_hooks';
import { createLatencyHistogram, LatencyHistogram } from './histogram';
import type { Pacer } from './pacer';
import { statusName } from '../shared/grpc-status';
import { addTiming, createTimingAccumulator, ServerTiming, TimingAccumulator } from './timing';
import { createTimeSeries, SeriesPoint } from './timeseries';

/** Called by the issuer when a call ends. `code` is a gRPC status code (0 = OK). */
export type DoneFn = (
  slot: number,
  code: number,
  bytesUp: number,
  bytesDown: number,
  images: number,
  timing: ServerTiming | undefined,
  message: string | undefined,
) => void;

/** Starts request number `seq` in `slot` and calls `done(slot, …)` exactly once when it ends. */
export type IssueFn = (slot: number, seq: number, done: DoneFn) => void;

export interface LoadSpec {
  mode: 'closed' | 'open';
  /** Closed: number of workers. Open: most requests in flight at once. */
  concurrency: number;
  /** Open loop: a fresh pacer per phase (warm-up, measurement). */
  pacer?: () => Pacer;
  /** Stop issuing after this many seconds of measurement. */
  durationS?: number;
  /** Stop after this many measured requests. */
  requests?: number;
  /** Warm-up before measuring, discarded: seconds and/or requests. */
  warmupS?: number;
  warmupRequests?: number;
  issue: IssueFn;
  /** Stops issuing; in-flight requests are still awaited (bounded by drainS). */
  signal?: AbortSignal;
  /**
   * Open loop, when all `concurrency` slots are busy at a request's intended time: 'queue' (default)
   * holds it in the client and sends it when a slot frees (latency still from the intended time);
   * 'drop' skips it and counts it as dropped (a real-time frame source with a bounded window).
   */
  overflow?: 'queue' | 'drop';
  /** Longest wait for in-flight requests after issuing stops. Default 30 s. */
  drainS?: number;
  /** Called about every 200 ms with measured completions and elapsed ns (for a progress bar). */
  onProgress?: (completed: number, elapsedNs: number) => void;
}

export interface LoadResult {
  mode: 'closed' | 'open';
  /** Latency of successful requests, ns → µs histogram; open loop: from the intended send time. */
  latency: LatencyHistogram;
  /** Open loop only: latency from the actual send (service time), to compare with the above. */
  service: LatencyHistogram;
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  /** Still in flight when the drain timeout ended the run (counted, never silently dropped). */
  unfinished: number;
  /** Open loop with overflow 'drop': requests skipped because the window was full. */
  dropped: number;
  images: number;
  bytesUp: number;
  bytesDown: number;
  /** Measurement start → last completion (or drain end), ns. */
  elapsedNs: number;
  statusCounts: Record<string, number>;
  /** "CODE: message" → count (first 20 distinct). */
  errorMessages: Record<string, number>;
  series: SeriesPoint[];
  timing: TimingAccumulator;
  /** Open loop: requests with a schedule, and those sent > 1 ms after it. */
  scheduled: number;
  sentLate: number;
  /** Client event-loop utilisation over the measurement, 0..1. */
  clientBusy: number;
  endReason: 'duration' | 'requests' | 'interrupted' | 'drain-timeout';
  warmupRequests: number;
}

const LATE_NS = 1e6;

interface PhaseLimits {
  durationNs: number;
  requests: number;
  record: boolean;
}

function runPhase(spec: LoadSpec, lim: PhaseLimits): Promise<LoadResult> {
  return new Promise((resolve) => {
    const C = Math.max(1, Math.floor(spec.concurrency));
    const latency = createLatencyHistogram();
    const service = createLatencyHistogram();
    const series = createTimeSeries();
    const timing = createTimingAccumulator();
    const statusCounts: Record<string, number> = {};
    const errorMessages: Record<string, number> = {};
    const slotIntended = new Float64Array(C);
    const slotSent = new Float64Array(C);
    let sent = 0;
    let completed = 0;
    let ok = 0;
    let errors = 0;
    let images = 0;
    let bytesUp = 0;
    let bytesDown = 0;
    let inFlight = 0;
    let stopIssuing = false;
    let finished = false;
    let scheduled = 0;
    let dropped = 0;
    let sentLate = 0;
    let lastEndNs = 0;
    let inIssue = false;
    let endReason: LoadResult['endReason'] = lim.requests < Infinity && lim.durationNs === Infinity ? 'requests' : 'duration';
    const elu0 = performance.eventLoopUtilization();
    const t0 = process.hrtime.bigint();
    const rel = (): number => Number(process.hrtime.bigint() - t0);

    // Open loop state: free slots and the client-side backlog of intended send times.
    const free: number[] = [];
    for (let i = C - 1; i >= 0; i--) free.push(i);
    const backlog: number[] = [];
    let backlogHead = 0;
    const pacer = spec.mode === 'open' ? spec.pacer?.() : undefined;
    if (spec.mode === 'open' && !pacer) throw new Error('open loop needs a pacer (--rate)');
    let nextIntended = pacer ? pacer.next() : 0;
    let timer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let durationTimer: NodeJS.Timeout | undefined;
    let progressTimer: NodeJS.Timeout | undefined;

    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      if (durationTimer) clearTimeout(durationTimer);
      if (progressTimer) clearInterval(progressTimer);
      spec.signal?.removeEventListener('abort', onAbort);
      const elu = performance.eventLoopUtilization(elu0);
      resolve({
        mode: spec.mode,
        latency,
        service,
        sent,
        completed,
        ok,
        errors,
        unfinished: inFlight + (backlog.length - backlogHead),
        dropped,
        images,
        bytesUp,
        bytesDown,
        elapsedNs: inFlight > 0 ? rel() : lastEndNs,
        statusCounts,
        errorMessages,
        series: series.points(),
        timing,
        scheduled,
        sentLate,
        clientBusy: elu.utilization,
        endReason,
        warmupRequests: 0,
      });
    };

    const stop = (reason: LoadResult['endReason']): void => {
      if (stopIssuing) return;
      stopIssuing = true;
      endReason = reason;
      if (timer) clearTimeout(timer);
      if (inFlight === 0) {
        finish();
        return;
      }
      drainTimer = setTimeout(() => {
        endReason = 'drain-timeout';
        finish();
      }, (spec.drainS ?? 30) * 1000);
    };
    const onAbort = (): void => stop('interrupted');
    spec.signal?.addEventListener('abort', onAbort);
    if (spec.signal?.aborted) queueMicrotask(onAbort);

    const send = (slot: number, intended: number): void => {
      const seq = sent++;
      inFlight++;
      slotIntended[slot] = intended;
      const now = rel();
      slotSent[slot] = now;
      if (spec.mode === 'open') {
        scheduled++;
        if (now - intended > LATE_NS) sentLate++;
      }
      inIssue = true;
      spec.issue(slot, seq, done);
      inIssue = false;
    };

    const closedNext = (slot: number): void => {
      if (stopIssuing || finished) return;
      if (sent >= lim.requests) {
        stop('requests');
        return;
      }
      send(slot, rel());
    };
    const closedNextDeferred = (slot: number): void => closedNext(slot);

    function done(slot: number, code: number, up: number, down: number, imgs: number, t: ServerTiming | undefined, message: string | undefined): void {
      const end = rel();
      if (finished) return;
      inFlight--;
      completed++;
      lastEndNs = end;
      const lat = end - slotIntended[slot];
      const svc = end - slotSent[slot];
      bytesUp += up;
      bytesDown += down;
      if (lim.record) {
        const name = statusName(code);
        statusCounts[name] = (statusCounts[name] ?? 0) + 1;
        series.record(end, code === 0, lat, up, down, imgs);
        if (code === 0) {
          ok++;
          images += imgs;
          latency.recordNanos(lat);
          service.recordNanos(svc);
          if (t) addTiming(timing, t, svc);
        } else {
          errors++;
          const key = `${name}: ${message ?? ''}`;
          if (errorMessages[key] !== undefined || Object.keys(errorMessages).length < 20) errorMessages[key] = (errorMessages[key] ?? 0) + 1;
        }
      } else if (code === 0) ok++;
      else errors++;

      if (spec.mode === 'closed') {
        if (!stopIssuing && end >= lim.durationNs) stop('duration');
        if (!stopIssuing) {
          // A synchronous completion would recurse; hop through the event loop instead.
          if (inIssue) setImmediate(closedNextDeferred, slot);
          else closedNext(slot);
          return;
        }
      } else if (backlogHead < backlog.length) {
        send(slot, backlog[backlogHead++]);
        return;
      } else free.push(slot);
      if (stopIssuing && inFlight === 0 && backlogHead >= backlog.length) finish();
    }

    const tick = (): void => {
      timer = undefined;
      if (stopIssuing || finished || !pacer) return;
      const now = rel();
      while (nextIntended <= now) {
        if (nextIntended >= lim.durationNs) {
          stop('duration');
          return;
        }
        if (scheduled + (backlog.length - backlogHead) >= lim.requests) {
          stop('requests');
          return;
        }
        const slot = free.pop();
        if (slot === undefined) {
          if (spec.overflow === 'drop') {
            scheduled++;
            dropped++;
          } else backlog.push(nextIntended);
        }
        else send(slot, nextIntended);
        nextIntended = pacer.next();
      }
      const wait = nextIntended - rel();
      // Timers are coarse (≥ 1 ms, often later); sleep until ~1 ms before, then poll with setImmediate.
      if (wait > 1.5e6) timer = setTimeout(tick, Math.floor((wait - 1e6) / 1e6));
      else setImmediate(tick);
    };

    if (spec.onProgress) {
      const cb = spec.onProgress;
      progressTimer = setInterval(() => cb(completed, rel()), 200);
      progressTimer.unref();
    }
    // Ends the issuing phase on time even when every call hangs (calls are bounded by their deadline).
    if (lim.durationNs < Infinity) durationTimer = setTimeout(() => stop('duration'), Math.ceil(lim.durationNs / 1e6) + 1);
    if (spec.mode === 'closed') {
      const n = Math.min(C, lim.requests);
      if (n === 0) stop('requests');
      for (let w = 0; w < n && !stopIssuing; w++) closedNext(w);
    } else tick();
  });
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.durationS === undefined && spec.requests === undefined) throw new Error('give a duration or a request count');
  let warmupRequests = 0;
  if ((spec.warmupS ?? 0) > 0 || (spec.warmupRequests ?? 0) > 0) {
    const w = await runPhase(spec, {
      durationNs: (spec.warmupS ?? 0) > 0 ? spec.warmupS! * 1e9 : Infinity,
      requests: (spec.warmupRequests ?? 0) > 0 ? spec.warmupRequests! : Infinity,
      record: false,
    });
    warmupRequests = w.completed;
    if (spec.signal?.aborted) return { ...w, warmupRequests };
  }
  const r = await runPhase(spec, {
    durationNs: spec.durationS !== undefined ? spec.durationS * 1e9 : Infinity,
    requests: spec.requests ?? Infinity,
    record: true,
  });
  r.warmupRequests = warmupRequests;
  return r;
}
