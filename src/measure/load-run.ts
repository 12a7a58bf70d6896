/**
 * Offered load (perf_analyzer's LoadManager, ghz's runner): a discarded warm-up phase, then the measured
 * phase. A phase wires a driver (closed-loop.ts: C workers back to back; open-loop.ts: requests on a
 * Pacer's schedule) to a recorder (recorder.ts) and owns what ends it: its duration or request count, an
 * abort, and the bounded drain of calls still in flight. It knows nothing about gRPC or models, so the
 * remote client and the in-process local mode share it.
 *
 * Hot-loop discipline (the client's noise floor is part of every number): one preallocated slot per
 * in-flight request, one `done` function for the whole phase (no per-call closures here), timestamps
 * taken right around the call, nothing printed inside the timed region.
 *
 * Nothing here is Node-specific: the clock, the sleeper and the busy meter come in a LoadRuntime
 * (load-phase.ts gives Node's; the browser page gives its own), so rtinfer and the page run one loop.
 */
import type { CallOutcome, IssueFn } from './call';
import { closedLoop } from './closed-loop';
import type { Driver, EndReason, PhaseControl } from './driver';
import { openLoop, type Overflow } from './open-loop';
import type { Pacer } from './pacer';
import { createRecorder, type Recorded } from './recorder';
import type { Timebase } from './timebase';

export type { EndReason } from './driver';

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
  overflow?: Overflow;
  /** Longest wait for in-flight requests after issuing stops. Default 30 s. */
  drainS?: number;
  /** Called about every 200 ms with measured completions and elapsed ns (for a progress bar). */
  onProgress?: (completed: number, elapsedNs: number) => void;
  /** Clock and sleeper; the process's monotonic ones unless a test injects virtual time. */
  timebase?: Timebase;
  /** Told when each phase starts: `measured` false for the warm-up (per-call figures kept elsewhere reset on it). */
  onPhase?: (measured: boolean) => void;
}

/** Where a load runs: its clock and sleeper, and how busy the client's thread was. */
export interface LoadRuntime {
  timebase: Timebase;
  /** Starts measuring; the function returned gives the share of the time since that the thread worked, 0..1. */
  busyMeter(): () => number;
}

export interface LoadResult extends Recorded {
  mode: 'closed' | 'open';
  /** Still in flight when the drain timeout ended the run (counted, never silently dropped). */
  unfinished: number;
  /** Measurement start → last completion (or drain end), ns. */
  elapsedNs: number;
  /** Wall-clock time of the measurement start, ms since the Unix epoch (µs precision): lines up runs of several agents. */
  startUnixMs: number;
  /** Share of the measurement the client's thread was working (event-loop utilisation less precise waits), 0..1. */
  clientBusy: number;
  endReason: EndReason;
  warmupRequests: number;
}

export interface PhaseLimits {
  durationNs: number;
  requests: number;
  /** false: a warm-up, counted only as far as running it needs. */
  record: boolean;
}

/**
 * How long past its duration a phase waits before it stops issuing by the clock alone: the drivers stop it
 * on time when calls end or fall due, and this ends it even when every call hangs (calls are bounded by
 * their deadline, and the drain by drainS).
 */
const DURATION_BACKSTOP_NS = 1e6;

export function runPhase(spec: LoadSpec, lim: PhaseLimits, runtime: LoadRuntime): Promise<LoadResult> {
  return new Promise((resolve) => {
    const slots = Math.max(1, Math.floor(spec.concurrency));
    const time = spec.timebase ?? runtime.timebase;
    const rec = createRecorder(slots, lim.record);
    const paced = spec.mode === 'open';
    const pacer = paced ? spec.pacer?.() : undefined;
    if (paced && !pacer) throw new Error('open loop needs a pacer (--rate)');
    // Aborted when issuing stops (cancels the pacer's and the backstop's waits), and when the phase ends
    // (cancels the drain wait), so no timer outlives the phase.
    const issuing = new AbortController();
    const running = new AbortController();
    let inFlight = 0;
    let stopped = false;
    let finished = false;
    let endReason: EndReason = lim.requests < Infinity && lim.durationNs === Infinity ? 'requests' : 'duration';
    let progressTimer: ReturnType<typeof setInterval> | undefined;
    const busy = runtime.busyMeter();
    const t0 = time.nowNs();
    const startUnixMs = performance.timeOrigin + performance.now();
    const now = (): number => Number(time.nowNs() - t0);
    const at = (ns: number): bigint => t0 + BigInt(Math.round(ns));

    const finish = (): void => {
      if (finished) return;
      finished = true;
      issuing.abort();
      running.abort();
      if (progressTimer) clearInterval(progressTimer);
      spec.signal?.removeEventListener('abort', onAbort);
      resolve({
        ...rec.result(),
        mode: spec.mode,
        unfinished: inFlight + driver.waiting(),
        elapsedNs: inFlight > 0 ? now() : rec.lastEndNs(),
        startUnixMs,
        clientBusy: busy(),
        endReason,
        warmupRequests: 0,
      });
    };

    const stop = (reason: EndReason): void => {
      if (stopped) return;
      stopped = true;
      endReason = reason;
      issuing.abort();
      if (inFlight === 0) {
        finish();
        return;
      }
      void time.sleepUntil(time.nowNs() + BigInt(Math.round((spec.drainS ?? 30) * 1e9)), running.signal).then(() => {
        if (finished) return;
        endReason = 'drain-timeout';
        finish();
      });
    };
    const onAbort = (): void => stop('interrupted');

    const done = (o: CallOutcome): void => {
      const end = now();
      if (finished) return;
      inFlight--;
      rec.ended(o, end);
      driver.ended(o.slot, end);
      if (stopped && inFlight === 0 && driver.waiting() === 0) finish();
    };

    const control: PhaseControl = {
      durationNs: lim.durationNs,
      requests: lim.requests,
      now,
      send(slot, intendedNs): void {
        const seq = rec.sentCount();
        inFlight++;
        const sentNs = now();
        rec.sent(slot, intendedNs ?? sentNs, sentNs, paced);
        spec.issue(slot, seq, done);
      },
      drop: () => rec.dropped(),
      sentCount: () => rec.sentCount(),
      inFlight: () => inFlight,
      stop,
      stopped: () => stopped,
      sleepUntil: (atNs, idle) => time.sleepUntil(at(atNs), issuing.signal, idle),
    };
    const driver: Driver = pacer ? openLoop(control, pacer, slots, spec.overflow ?? 'queue') : closedLoop(control, slots);

    spec.signal?.addEventListener('abort', onAbort);
    if (spec.signal?.aborted) queueMicrotask(onAbort);
    if (spec.onProgress) {
      const cb = spec.onProgress;
      progressTimer = setInterval(() => cb(rec.completedCount(), now()), 200);
      (progressTimer as { unref?: () => void }).unref?.();
    }
    if (lim.durationNs < Infinity) {
      void time.sleepUntil(at(lim.durationNs + DURATION_BACKSTOP_NS), issuing.signal).then(() => stop('duration'));
    }
    driver.start();
  });
}

/** A warm-up phase (when asked for), then the measured phase, on `runtime`. */
export async function runLoadOn(spec: LoadSpec, runtime: LoadRuntime): Promise<LoadResult> {
  if (spec.durationS === undefined && spec.requests === undefined) throw new Error('give a duration or a request count');
  let warmupRequests = 0;
  if ((spec.warmupS ?? 0) > 0 || (spec.warmupRequests ?? 0) > 0) {
    spec.onPhase?.(false);
    const w = await runPhase(spec, {
      durationNs: (spec.warmupS ?? 0) > 0 ? spec.warmupS! * 1e9 : Infinity,
      requests: (spec.warmupRequests ?? 0) > 0 ? spec.warmupRequests! : Infinity,
      record: false,
    }, runtime);
    warmupRequests = w.completed;
    if (spec.signal?.aborted) return { ...w, warmupRequests };
  }
  spec.onPhase?.(true);
  const r = await runPhase(spec, {
    durationNs: spec.durationS !== undefined ? spec.durationS * 1e9 : Infinity,
    requests: spec.requests ?? Infinity,
    record: true,
  }, runtime);
  r.warmupRequests = warmupRequests;
  return r;
}
