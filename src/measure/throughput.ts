/**
 * One-direction transfer throughput from one-way delays (ping --payload-bytes / --response-bytes):
 *
 *   rate = Σ bytes_i / Σ (delay_i − c)
 *
 * where delay_i is the loaded probe's one-way delay and c is the part of it that is not transfer time,
 * estimated from unloaded calibration probes. Each loaded delay is c_i + transfer_i with c_i drawn from the
 * same distribution as the calibration delays, so Σ(delay_i − c) estimates Σ transfer_i without bias only
 * when c is a central value of that distribution. The minimum is not: every loaded probe then also counts
 * the path's typical excess over its best case as transfer time, and the rate comes out low by
 * (typical − min) / transfer (docs/decisions/0011-jitter-mean-ipdv-and-median-throughput-baseline.md has the measurement).
 * The median is central and robust to the odd stalled calibration probe.
 */
import { median } from './stats';

export interface TransferRate {
  /** Bytes per second; undefined when no transfer time could be measured (Σ(delay − c) ≤ 0). */
  bytesPerS?: number;
  /** c: the median calibration delay, ns. */
  baselineNs: number;
  /** Σ max(0, delay_i − c), ns. */
  transferNs: number;
  bytes: number;
}

/**
 * `bytes[i]` crossed in `loadedDelayNs[i]`; `calibrationDelayNs` are unloaded one-way delays in the same
 * direction (same clock-offset correction, so the offset cancels). Per-probe differences are floored at 0:
 * a probe faster than the median baseline carried its bytes in no measurable time.
 */
export function transferRate(bytes: readonly number[], loadedDelayNs: readonly number[], calibrationDelayNs: readonly number[]): TransferRate {
  if (bytes.length !== loadedDelayNs.length) throw new Error(`transferRate: ${bytes.length} byte counts for ${loadedDelayNs.length} delays`);
  const baselineNs = median(calibrationDelayNs);
  let transferNs = 0;
  let total = 0;
  for (let i = 0; i < bytes.length; i++) {
    total += bytes[i];
    transferNs += Math.max(0, loadedDelayNs[i] - baselineNs);
  }
  return { baselineNs, transferNs, bytes: total, ...(transferNs > 0 && Number.isFinite(baselineNs) ? { bytesPerS: total / (transferNs / 1e9) } : {}) };
}
