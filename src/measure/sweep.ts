/**
 * The knee of a concurrency sweep: the last level that still paid off. Going from level i−1 to i is
 * "worth it" when throughput grows by ≥ `minGain` (default 10 %) and the p99 does not more than double
 * (`maxLatencyGrowth`, default 2×). The knee is the level before the first step that is not worth it;
 * with no such step it is the last level (the sweep never saturated: say so).
 */
export interface SweepLevel {
  concurrency: number;
  throughput_rps: number;
  p50_ms: number;
  p99_ms: number;
}

export interface Knee {
  concurrency: number;
  /** True when a step stopped paying off; false when throughput still grew at the last level. */
  saturated: boolean;
  reason: string;
}

export function findKnee(levels: SweepLevel[], minGain = 0.1, maxLatencyGrowth = 2): Knee | undefined {
  if (levels.length === 0) return undefined;
  for (let i = 1; i < levels.length; i++) {
    const a = levels[i - 1];
    const b = levels[i];
    const gain = a.throughput_rps > 0 ? b.throughput_rps / a.throughput_rps - 1 : Infinity;
    const latGrowth = a.p99_ms > 0 ? b.p99_ms / a.p99_ms : 1;
    if (gain < minGain || latGrowth > maxLatencyGrowth) {
      const why = gain < minGain
        ? `throughput grew only ${(gain * 100).toFixed(1)} % from ${a.concurrency} to ${b.concurrency} (< ${(minGain * 100).toFixed(0)} %)`
        : `p99 grew ${latGrowth.toFixed(1)}× from ${a.concurrency} to ${b.concurrency} (> ${maxLatencyGrowth}×)`;
      return { concurrency: a.concurrency, saturated: true, reason: why };
    }
  }
  const last = levels[levels.length - 1];
  return { concurrency: last.concurrency, saturated: false, reason: `throughput still grew at ${last.concurrency}; sweep higher to find the knee` };
}
