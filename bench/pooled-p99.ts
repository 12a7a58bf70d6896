/**
 * P3's statistic: the ratio of two clients' RTT p99, each taken over *all* their probes from every
 * repetition (pooled), with a bootstrap 95 % confidence interval.
 *
 * Why pooled and not "median of per-repetition p99s": the p99 of 1000 probes is their 10th-worst value, and
 * on a shared 2-core VM those ten are scheduler stalls, so per-repetition ratios for the same two clients
 * scatter widely and a 3-repetition median lands either side of 1.0 by chance
 * (docs/decisions/0009-p3-pooled-p99-with-equal-warm-up.md has the runs). Pooling
 * 3 × 1000 probes puts 30 samples in the tail, and the bootstrap says how far the ratio can be trusted.
 * The repetitions are still interleaved (the order of the clients rotates), so both pools saw the same
 * machine. Hand-written because it is 30 lines and no maintained npm package does a seeded percentile
 * bootstrap without pulling in a statistics framework.
 */
import { nearestRankSorted } from '../src/measure/stats';
import { mulberry32 } from '../src/shared/prng';

export interface PooledRatio {
  /** p99 of the pooled numerator samples ÷ p99 of the pooled denominator samples. */
  ratio: number;
  numeratorP99: number;
  denominatorP99: number;
  /** 2.5th and 97.5th percentiles of the ratio over bootstrap resamples of both pools. */
  ci95: [number, number];
  samples: [number, number];
}

function resampledP99(xs: Float64Array, scratch: Float64Array, rand: () => number): number {
  for (let i = 0; i < xs.length; i++) scratch[i] = xs[Math.floor(rand() * xs.length)];
  scratch.sort();
  return nearestRankSorted(scratch, 99);
}

export function pooledP99Ratio(numerator: number[][], denominator: number[][], resamples = 1000, seed = 3): PooledRatio {
  const a = Float64Array.from(numerator.flat()).sort();
  const b = Float64Array.from(denominator.flat()).sort();
  if (a.length === 0 || b.length === 0) throw new Error('pooledP99Ratio: no samples');
  const rand = mulberry32(seed);
  const sa = new Float64Array(a.length);
  const sb = new Float64Array(b.length);
  const ratios = new Float64Array(resamples);
  for (let k = 0; k < resamples; k++) ratios[k] = resampledP99(a, sa, rand) / resampledP99(b, sb, rand);
  ratios.sort();
  const na = nearestRankSorted(a, 99);
  const nb = nearestRankSorted(b, 99);
  return { ratio: na / nb, numeratorP99: na, denominatorP99: nb, ci95: [nearestRankSorted(ratios, 2.5), nearestRankSorted(ratios, 97.5)], samples: [a.length, b.length] };
}
