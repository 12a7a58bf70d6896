/**
 * Delay variation, two definitions side by side because users know both:
 *
 * - RFC 3550 §6.4.1 interarrival jitter: for consecutive packets i−1, i that both arrived,
 *   D = (R_i − R_{i−1}) − (S_i − S_{i−1}) = transit_i − transit_{i−1}, and J ← J + (|D| − J)/16.
 *   J starts at 0, so it is a smoothed running estimate (time constant 16 packets) — the value after the
 *   last packet is reported, as RTP receivers do. Transit may carry an unknown constant clock offset; it
 *   cancels in D, so one-way jitter needs no clock sync.
 * - Mean |IPDV| (RFC 3393 / irtt): the mean of |x_i − x_{i−1}| over consecutive pairs that both arrived.
 *   Unsmoothed; for i.i.d. delay variation with standard deviation σ it converges to 2σ/√π ≈ 1.128σ.
 *
 * A lost sample (null) breaks the chain: the pairs on either side of it are skipped, never interpolated.
 */

export interface JitterResult {
  /** RFC 3550 running estimate after the last sample, in the input's unit. */
  rfc3550: number;
  /** Mean |difference| between consecutive arrived samples, in the input's unit. */
  meanAbsIpdv: number;
  /** Largest |difference|. */
  maxAbsIpdv: number;
  /** Consecutive arrived pairs the figures were computed from. */
  pairs: number;
}

/**
 * `series[i]` is the transit time (or RTT) of probe i in send order, null when probe i was lost.
 * Any unit; results are in the same unit.
 */
export function jitter(series: ReadonlyArray<number | null>): JitterResult {
  let j = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  let pairs = 0;
  for (let i = 1; i < series.length; i++) {
    const a = series[i - 1];
    const b = series[i];
    if (a === null || b === null) continue;
    const d = Math.abs(b - a);
    j += (d - j) / 16;
    sumAbs += d;
    if (d > maxAbs) maxAbs = d;
    pairs++;
  }
  return { rfc3550: j, meanAbsIpdv: pairs === 0 ? 0 : sumAbs / pairs, maxAbsIpdv: maxAbs, pairs };
}
