/**
 * Measurement windows and stability, after Triton perf_analyzer:
 * - a window is 5 s, or shorter (1 s or 2 s) when every window would still hold ≥ 50 requests;
 * - throughput of a window counts requests that *end* inside it;
 * - a run is stable when its last 3 windows all have throughput > 0 and, for throughput and for mean
 *   latency, max/min ≤ 1 + 10 %.
 * A run too short for that many windows is "not judged", which is not the same as unstable: every
 * figure and the verdict are computed over the whole run either way; stability only says whether those
 * figures describe a steady state (what to quote, or compare with another run).
 * Self-checks say when the client's own numbers cannot be trusted: the client busy > 50 % of the run
 * (event-loop utilisation; remote client only, in-process the "client" is the engine itself), or > 1 % of
 * scheduled requests sent > 1 ms late (then: by how much, and whether the offered rate was still met).
 */
import { compareRate } from './verdict';
import type { SeriesPoint } from './timeseries';

export interface Window {
  start_s: number;
  end_s: number;
  requests: number;
  throughput_rps: number;
  mean_ms: number;
}

export interface StabilityOptions {
  /** Windows that must agree. Default 3. */
  windows: number;
  /** Allowed max/min − 1. Default 0.10. */
  tolerance: number;
}

export const DEFAULT_STABILITY: StabilityOptions = { windows: 3, tolerance: 0.1 };

export interface Stability {
  stable: boolean;
  /** false: too few whole windows to judge (the run was too short), so `stable` is false without evidence. */
  judged: boolean;
  window_s: number;
  windows: Window[];
  /** Why it is (not) stable, in words. */
  reason: string;
}

/** Window length in whole seconds for a run: the smallest of 1, 2, 5 with ≥ 50 requests per window. */
export function chooseWindowSeconds(points: SeriesPoint[]): number {
  const total = points.reduce((s, p) => s + p.ok, 0);
  const seconds = Math.max(1, points.length);
  for (const w of [1, 2]) if ((total / seconds) * w >= 50) return w;
  return 5;
}

/** Groups whole per-second points into windows of `w` seconds (a trailing partial window is dropped). */
export function windowsOf(points: SeriesPoint[], w: number): Window[] {
  const out: Window[] = [];
  for (let s = 0; s + w <= points.length; s += w) {
    let n = 0;
    let latSum = 0;
    for (let i = s; i < s + w; i++) {
      n += points[i].ok;
      latSum += points[i].mean_ms * points[i].ok;
    }
    out.push({ start_s: s, end_s: s + w, requests: n, throughput_rps: n / w, mean_ms: n === 0 ? 0 : latSum / n });
  }
  return out;
}

function spread(xs: number[]): number {
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  return min <= 0 ? Infinity : max / min - 1;
}

export function assessStability(windows: Window[], windowS: number, o: StabilityOptions = DEFAULT_STABILITY): Stability {
  if (windows.length < o.windows) {
    return {
      stable: false,
      judged: false,
      window_s: windowS,
      windows,
      reason: `only ${windows.length} full ${windowS}-s window${windows.length === 1 ? '' : 's'}; ${o.windows} are needed to judge (run at least ${o.windows * windowS} s)`,
    };
  }
  const last = windows.slice(-o.windows);
  if (last.some((w) => w.throughput_rps <= 0)) {
    return { stable: false, judged: true, window_s: windowS, windows, reason: `a window among the last ${o.windows} completed no requests (a stall)` };
  }
  const tp = spread(last.map((w) => w.throughput_rps));
  const lat = spread(last.map((w) => w.mean_ms));
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  const stable = tp <= o.tolerance && lat <= o.tolerance;
  return {
    stable,
    judged: true,
    window_s: windowS,
    windows,
    reason: `last ${o.windows} windows of ${windowS} s: throughput spread ${pct(tp)}, latency spread ${pct(lat)} (limit ${pct(o.tolerance)})`,
  };
}

export interface SelfCheckInput {
  /**
   * Event-loop utilisation of the client over the measured period, 0..1; undefined in-process, where the
   * thread is busy because it runs the engine, which is what is being measured, not measurement overhead.
   */
  clientBusy?: number;
  /** Requests with a schedule (open loop); 0 in closed loop. */
  scheduled: number;
  /** Of those, sent more than 1 ms after their intended time. */
  sentLate: number;
  /** The latest any of them left, ms. */
  maxSendLateMs?: number;
  /** The rate the schedule offered (open loop), and what was achieved, in `rateUnit`. */
  offeredRate?: number;
  achievedRate?: number;
  rateUnit?: string;
  /** In-process: the engine runs on the scheduler's thread, so a busy engine is what delays sends. */
  inProcess?: boolean;
}

/** Warnings (empty when the client's numbers can be trusted). */
export function selfCheck(i: SelfCheckInput): string[] {
  const w: string[] = [];
  if (i.clientBusy !== undefined && i.clientBusy > 0.5) {
    w.push(`client busy ${(i.clientBusy * 100).toFixed(0)} % of the run (> 50 %): its own CPU time may inflate latency; use fewer connections/concurrency or more client cores`);
  }
  if (i.scheduled > 0 && i.sentLate / i.scheduled > 0.01) {
    const notes = [i.maxSendLateMs !== undefined ? `max ${i.maxSendLateMs.toFixed(1)} ms` : '', i.inProcess ? 'in-process, inference runs on the thread that sends' : ''].filter((x) => x);
    const max = notes.length ? ` (${notes.join('; ')})` : '';
    let rate = '';
    if (i.offeredRate !== undefined && i.achievedRate !== undefined) {
      const r = compareRate(i.achievedRate, i.offeredRate, i.rateUnit ?? 'req/s');
      rate = r.met ? `; the rate was still met (${r.text})` : `; the offered rate was not met (${r.text})`;
    }
    w.push(`${i.sentLate} of ${i.scheduled} scheduled requests (${((100 * i.sentLate) / i.scheduled).toFixed(1)} %) were sent > 1 ms late${max}${rate}; their latency counts from the intended send time, so the delay is in the figures`);
  }
  return w;
}

/** The one word for a stability result, as the printed summary and the HTML report both say it. */
export function stabilityWord(s: Pick<Stability, 'stable'> & { judged?: boolean }): 'steady' | 'NOT steady' | 'not judged' {
  // Run files written before `judged` existed carry only `stable`: they were judged.
  if (s.judged === false) return 'not judged';
  return s.stable ? 'steady' : 'NOT steady';
}
