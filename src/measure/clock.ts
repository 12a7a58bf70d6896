/**
 * Clock offset and one-way delays from four timestamps per probe, NTP style (RFC 5905 §8):
 *   t1 client send (client wall clock), t2 server receive, t3 server send (server wall clock),
 *   t4 client receive (client wall clock).
 *   offset θ = ((t2 − t1) + (t3 − t4)) / 2   (server clock minus client clock)
 *   delay  δ = (t4 − t1) − (t3 − t2)          (round trip minus server hold time)
 * θ is exact only when the path is symmetric; its error is bounded by ±δ/2. Queueing inflates δ and
 * skews θ, so the estimate uses the probes with the smallest δ (NTP's clock filter keeps the min-delay
 * sample): the median θ of the lowest-delay decile (at least one probe).
 * One-way delays are then estimates: send = t2 − t1 − θ, receive = t4 − t3 + θ. Each is reported with
 * the offset's error bound so nobody mistakes them for measured values.
 *
 * Inputs are bigint nanoseconds because wall-clock nanoseconds (~1.7e18) exceed 2^53; only differences
 * are turned into numbers.
 */
import { median } from './stats';

export interface ClockSample {
  t1: bigint;
  t2: bigint;
  t3: bigint;
  t4: bigint;
}

export interface OneWay {
  /** Per-probe estimated client→server delay, ns (offset-corrected). */
  sendNs: number[];
  /** Per-probe estimated server→client delay, ns (offset-corrected). */
  receiveNs: number[];
}

export interface ClockEstimate {
  /** Server clock minus client clock, ns. */
  offsetNs: number;
  /** ± bound on the offset error: half the smallest round-trip delay δ, ns. */
  errorBoundNs: number;
  /** Smallest δ seen, ns. */
  minDelayNs: number;
  /** Probes the estimate used (the lowest-δ decile). */
  samplesUsed: number;
}

export function offsetOf(s: ClockSample): number {
  return Number(s.t2 - s.t1 + (s.t3 - s.t4)) / 2;
}

export function delayOf(s: ClockSample): number {
  return Number(s.t4 - s.t1 - (s.t3 - s.t2));
}

/** Undefined when there are no samples. */
export function estimateClock(samples: ReadonlyArray<ClockSample>): ClockEstimate | undefined {
  if (samples.length === 0) return undefined;
  const byDelay = samples.map((s) => ({ d: delayOf(s), o: offsetOf(s) })).sort((a, b) => a.d - b.d);
  const keep = Math.max(1, Math.floor(byDelay.length / 10));
  const best = byDelay.slice(0, keep);
  const minDelay = best[0].d;
  return {
    offsetNs: median(best.map((b) => b.o)),
    errorBoundNs: Math.max(0, minDelay) / 2,
    minDelayNs: minDelay,
    samplesUsed: keep,
  };
}

/** One-way delays of each sample corrected by `offsetNs` (server minus client). */
export function oneWayDelays(samples: ReadonlyArray<ClockSample>, offsetNs: number): OneWay {
  const sendNs: number[] = [];
  const receiveNs: number[] = [];
  for (const s of samples) {
    sendNs.push(Number(s.t2 - s.t1) - offsetNs);
    receiveNs.push(Number(s.t4 - s.t3) + offsetNs);
  }
  return { sendNs, receiveNs };
}

/**
 * Wall clock with monotonic resolution: anchored once to the system clock, then advanced by
 * process.hrtime, so stamps never jump with NTP slews during a run and cost one hrtime call.
 */
export interface WallClock {
  /** Wall-clock ns for a monotonic hrtime reading. */
  wallOf(mono: bigint): bigint;
  anchorMonoNs: bigint;
  anchorWallNs: bigint;
}

export function createWallClock(): WallClock {
  const anchorMonoNs = process.hrtime.bigint();
  // performance.timeOrigin + now() has µs precision, better than Date.now()'s ms.
  const anchorWallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
  return { anchorMonoNs, anchorWallNs, wallOf: (mono: bigint) => anchorWallNs + (mono - anchorMonoNs) };
}
