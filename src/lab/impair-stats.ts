/**
 * What the impairment proxy (impair-proxy.ts) records about itself: running tallies of its release lateness
 * and of the time it held each chunk, per direction. Percentiles and medians over the kept samples come from
 * src/measure/stats.ts, the project's one statistics module; what is here is only what a proxy tally needs.
 */

export interface Tally {
  count: number;
  sum: number;
  max: number;
  /** The first MAX_KEPT_SAMPLES values, for percentiles. */
  samples: number[];
}

/** Enough for any self-test or fidelity run, small enough that a long soak through the proxy stays bounded. */
export const MAX_KEPT_SAMPLES = 100_000;

export function tally(): Tally {
  return { count: 0, sum: 0, max: 0, samples: [] };
}

export function record(t: Tally, v: number): void {
  t.count++;
  t.sum += v;
  if (v > t.max) t.max = v;
  if (t.samples.length < MAX_KEPT_SAMPLES) t.samples.push(v);
}

/** Mean of tallies of nanoseconds, pooled, in ms (0 when all are empty). */
export function meanMs(...ts: Tally[]): number {
  const count = ts.reduce((a, t) => a + t.count, 0);
  return count === 0 ? 0 : ts.reduce((a, t) => a + t.sum, 0) / count / 1e6;
}

/** The kept samples of a tally of nanoseconds, in ms. */
export function samplesMs(t: Tally): number[] {
  return t.samples.map((x) => x / 1e6);
}
