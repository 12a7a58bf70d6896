/**
 * Per-second time series of a run, keyed by the second (since the measurement start) in which each
 * request *ended* — the same rule perf_analyzer uses for window throughput.
 */
import { createLatencyHistogram, encodeHdr, LatencyHistogram, percentileMs } from './histogram';

interface Bucket {
  ok: number;
  errors: number;
  bytesUp: number;
  bytesDown: number;
  images: number;
  latSumNs: number;
  hist: LatencyHistogram;
}

export interface TimeSeries {
  record(endSinceStartNs: number, ok: boolean, latencyNs: number, bytesUp: number, bytesDown: number, images: number): void;
  points(): SeriesPoint[];
}

export interface SeriesPoint {
  /** Second index: [t_s, t_s + 1) after the measurement start. */
  t_s: number;
  /** OK responses that ended in this second (= throughput, req/s). */
  ok: number;
  errors: number;
  images: number;
  bytes_up: number;
  bytes_down: number;
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** This second's latency histogram (hdr-codec.ts), when it had an OK response: lets merged runs add seconds exactly. */
  hdr?: string;
}

export function createTimeSeries(): TimeSeries {
  const buckets: Bucket[] = [];
  const bucket = (s: number): Bucket => {
    while (buckets.length <= s) buckets.push({ ok: 0, errors: 0, bytesUp: 0, bytesDown: 0, images: 0, latSumNs: 0, hist: createLatencyHistogram() });
    return buckets[s];
  };
  return {
    record(endNs, ok, latencyNs, bytesUp, bytesDown, images): void {
      const b = bucket(Math.max(0, Math.floor(endNs / 1e9)));
      b.bytesUp += bytesUp;
      b.bytesDown += bytesDown;
      if (ok) {
        b.ok++;
        b.images += images;
        b.latSumNs += latencyNs;
        b.hist.recordNanos(latencyNs);
      } else b.errors++;
    },
    points(): SeriesPoint[] {
      return buckets.map((b, t_s) => ({
        t_s,
        ok: b.ok,
        errors: b.errors,
        images: b.images,
        bytes_up: b.bytesUp,
        bytes_down: b.bytesDown,
        mean_ms: b.ok === 0 ? 0 : b.latSumNs / b.ok / 1e6,
        p50_ms: percentileMs(b.hist, 50),
        p99_ms: percentileMs(b.hist, 99),
        max_ms: b.ok === 0 ? 0 : b.hist.hdr.maxValue / 1000,
        ...(b.ok > 0 ? { hdr: encodeHdr(b.hist) } : {}),
      }));
    },
  };
}

/**
 * The points of whole seconds only: a run ends part-way through its last second, and that sliver's count
 * reads as a throughput collapse while its percentiles come from the run's drain (the last in-flight
 * requests, no new arrivals). It is dropped rather than scaled up: a percentile cannot be rescaled, and a
 * rate from a few samples in a fraction of a second is noise. `elapsedS` is the measured span the series'
 * seconds count from (summary.duration_s).
 */
export function wholeSeconds(points: SeriesPoint[], elapsedS: number): SeriesPoint[] {
  return points.filter((p) => p.t_s + 1 <= elapsedS + 1e-9);
}
