/**
 * Order statistics over plain sample arrays, the one place the project computes them. Latency reports use
 * HDR histograms (histogram.ts); these serve the places that hold raw samples: clock-offset estimates,
 * baselines, benchmark pools and the impairment proxy's self-report.
 *
 * Percentiles are nearest rank (the smallest sample with at least p % of the samples at or below it), the
 * same definition HdrHistogram uses, so a percentile computed here and one read from a histogram of the same
 * samples agree.
 */

/** Nearest-rank percentile of samples already sorted ascending; NaN when there are none. */
export function nearestRankSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Nearest-rank percentile of unsorted samples (the input is not changed); NaN when there are none. */
export function nearestRank(xs: readonly number[], p: number): number {
  return nearestRankSorted(sortedCopy(xs), p);
}

/** The middle sample, or the mean of the two middle ones; NaN when there are none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = sortedCopy(xs);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function sortedCopy(xs: readonly number[]): Float64Array {
  return Float64Array.from(xs).sort();
}
