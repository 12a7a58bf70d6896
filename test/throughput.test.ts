/**
 * src/measure/throughput.ts against a path whose numbers are known exactly: one-way delays = a jittery
 * base (skewed, like a real path: mostly near its minimum, sometimes much slower) + bytes / B. Synthetic
 * delays from a seeded generator, no clock: the same numbers every run, so it belongs in `npm test`.
 */
import { expect } from 'chai';
import { transferRate } from '../src/measure/throughput';
import { mulberry32 } from '../src/shared/prng';

const rng = mulberry32;

describe('measure: throughput from one-way delays (src/measure/throughput.ts)', () => {
  it('recovers B within 2 % on a jittery path where a minimum baseline reads ~4–6 % low', () => {
    const r = rng(5);
    // Base one-way delay: 1 ms + exponential excess with mean 1.5 ms (min ≈ 1 ms, median ≈ 2 ms).
    const base = (): number => 1e6 + -Math.log(1 - r()) * 1.5e6;
    const B = 2_000_000; // bytes/s
    const bytes = Array.from({ length: 20 }, () => 50_000); // 25 ms each at B
    const calibration = Array.from({ length: 10 }, base);
    const loaded = bytes.map((n) => base() + (n / B) * 1e9);
    const got = transferRate(bytes, loaded, calibration);
    expect(got.bytesPerS! / B).to.be.within(0.98, 1.02);
    // What the minimum-baseline estimator gives on the same data: biased low.
    const minBase = Math.min(...calibration);
    const minRate = bytes.reduce((a, b) => a + b, 0) / (loaded.reduce((a, d) => a + Math.max(0, d - minBase), 0) / 1e9);
    expect(minRate / B).to.be.below(0.97);
  });

  it('reports no rate when nothing measurable was transferred, and rejects mismatched inputs', () => {
    expect(transferRate([100], [1e6], [2e6, 2e6, 2e6]).bytesPerS).to.equal(undefined);
    expect(transferRate([100], [3e6], [2e6]).bytesPerS).to.equal(100 / 1e-3);
    expect(() => transferRate([1, 2], [1], [1])).to.throw(/2 byte counts for 1 delays/);
  });
});
