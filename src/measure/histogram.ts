/**
 * Latency histogram: an HDR histogram at microsecond resolution (3 significant digits), so percentiles are
 * exact to 0.1 % of the value at any scale and recording costs O(1) with no allocation in the hot loop.
 *
 * Percentile definition: nearest rank. The p-th percentile is the smallest recorded value v such that at
 * least p % of the samples are ≤ v (hdr-histogram-js getValueAtPercentile, which reports the highest value
 * equivalent to that bucket; below 2048 µs every bucket holds exactly one µs, so small values are exact).
 */
import * as hdr from 'hdr-histogram-js';

/** Percentiles every report prints (ghz's set plus 99.9). */
export const REPORTED_PERCENTILES = [10, 25, 50, 75, 90, 95, 99, 99.9] as const;

export interface LatencyHistogram {
  /** The underlying HDR histogram; values are integer microseconds. */
  readonly hdr: hdr.Histogram;
  /** Records one latency given in nanoseconds (rounded to the nearest µs, at least 1 µs). */
  recordNanos(ns: number): void;
}

/**
 * The one layout every latency histogram has (unit 1 µs, up to an hour, 3 significant digits): buckets are
 * 1 µs wide below 2 048 µs and at most 1/1024 of their value above. Two histograms of one layout add
 * bucket by bucket into exactly the histogram of their pooled samples, which is what makes merged runs
 * (report-merge.ts) exact; hdr-codec.ts refuses any other layout.
 */
export const HDR_LAYOUT = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 } as const;

export function createLatencyHistogram(): LatencyHistogram {
  // Packed/JS implementation: WASM would need an async init and gives nothing at our sample counts.
  return wrapHistogram(hdr.build({ ...HDR_LAYOUT }));
}

/** A LatencyHistogram over an HDR histogram of HDR_LAYOUT (built here, or decoded by hdr-codec.ts). */
export function wrapHistogram(h: hdr.Histogram): LatencyHistogram {
  return {
    hdr: h,
    recordNanos(ns: number): void {
      const us = Math.round(ns / 1000);
      h.recordValue(us < 1 ? 1 : us);
    },
  };
}

/**
 * The histogram as text, losslessly: HdrHistogram V2 compressed, base64 (hdr-codec.ts reads it back). Here,
 * not in hdr-codec.ts, because writing needs no Node API and the browser page writes it too.
 */
export function encodeHdr(h: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(h.hdr);
}

/** Adds every sample of `from` into `into` (used to merge per-connection or per-window histograms). */
export function mergeInto(into: LatencyHistogram, from: LatencyHistogram): void {
  into.hdr.add(from.hdr);
}

export interface LatencySummary {
  count: number;
  min_ms: number;
  mean_ms: number;
  stddev_ms: number;
  max_ms: number;
  /** Keys "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9". */
  percentiles_ms: Record<string, number>;
}

const usToMs = (us: number): number => us / 1000;

export function percentileKey(p: number): string {
  return `p${p}`;
}

/** Summary figures in milliseconds; an empty histogram gives count 0 and NaN-free zeros. */
export function summarize(h: LatencyHistogram): LatencySummary {
  const x = h.hdr;
  const percentiles_ms: Record<string, number> = {};
  if (x.totalCount === 0) {
    for (const p of REPORTED_PERCENTILES) percentiles_ms[percentileKey(p)] = 0;
    return { count: 0, min_ms: 0, mean_ms: 0, stddev_ms: 0, max_ms: 0, percentiles_ms };
  }
  // Clamped to the exact max: HDR reports a bucket's highest equivalent value, which can exceed it.
  for (const p of REPORTED_PERCENTILES) percentiles_ms[percentileKey(p)] = usToMs(Math.min(x.maxValue, x.getValueAtPercentile(p)));
  return {
    count: x.totalCount,
    min_ms: usToMs(x.minNonZeroValue),
    mean_ms: usToMs(x.mean),
    stddev_ms: usToMs(x.stdDeviation),
    max_ms: usToMs(x.maxValue),
    percentiles_ms,
  };
}

/** Value at an arbitrary percentile, in ms (0 when empty). */
export function percentileMs(h: LatencyHistogram, p: number): number {
  return h.hdr.totalCount === 0 ? 0 : usToMs(Math.min(h.hdr.maxValue, h.hdr.getValueAtPercentile(p)));
}

export interface HistogramBucket {
  /** Lower edge of the bucket, ms (inclusive). */
  from_ms: number;
  /** Upper edge, ms (exclusive, except the last bucket which includes max). */
  to_ms: number;
  count: number;
}

export interface CdfPoint {
  ms: number;
  /** Fraction of samples ≤ ms, in (0, 1]. */
  fraction: number;
}

/** Every distinct recorded value (HDR bucket) with its count, ascending. */
function recordedValues(h: LatencyHistogram): Array<{ us: number; count: number }> {
  const out: Array<{ us: number; count: number }> = [];
  const js = h.hdr as unknown as hdr.JsHistogram; // hdr.build without WASM returns a JsHistogram
  const it = js.recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    out.push({ us: js.highestEquivalentValue(v.valueIteratedTo), count: v.countAddedInThisIterationStep });
  }
  return out;
}

/**
 * Equal-width buckets between min and max (ghz's layout), `n` of them. Every sample lands in exactly one
 * bucket, so the counts sum to the total.
 */
export function buckets(h: LatencyHistogram, n = 20): HistogramBucket[] {
  if (h.hdr.totalCount === 0) return [];
  const values = recordedValues(h);
  const min = values[0].us;
  const max = values[values.length - 1].us;
  const width = Math.max(1, (max - min) / n);
  const out: HistogramBucket[] = [];
  for (let i = 0; i < n; i++) out.push({ from_ms: usToMs(min + i * width), to_ms: usToMs(min + (i + 1) * width), count: 0 });
  for (const v of values) {
    const i = Math.min(n - 1, Math.floor((v.us - min) / width));
    out[i].count += v.count;
  }
  return max === min ? out.slice(0, 1) : out;
}

/** Cumulative distribution, at most `maxPoints` points (always keeping the last, fraction 1). */
export function cdf(h: LatencyHistogram, maxPoints = 200): CdfPoint[] {
  const total = h.hdr.totalCount;
  if (total === 0) return [];
  const values = recordedValues(h);
  const pts: CdfPoint[] = [];
  let cum = 0;
  for (const v of values) {
    cum += v.count;
    pts.push({ ms: usToMs(v.us), fraction: cum / total });
  }
  if (pts.length <= maxPoints) return pts;
  const step = pts.length / maxPoints;
  const out: CdfPoint[] = [];
  for (let i = 0; i < maxPoints - 1; i++) out.push(pts[Math.floor(i * step)]);
  out.push(pts[pts.length - 1]);
  return out;
}

/** Buckets per decade of the report's grid: fine enough to show a mode, coarse enough to hold a few samples each. */
export const LOG_BUCKETS_PER_DECADE = 10;

/**
 * Where logBuckets puts its edges. Log spacing either way: a latency tail spans decades, and equal-width
 * bins squash the body into one bar.
 * - `perDecade`: one fixed grid, edges 10^(k/perDecade) ms, so every run gets the same edges and two runs'
 *   bars line up (the report's charts: docs/decisions/0014-report-log-histogram-and-noise-band.md). Buckets
 *   run from the first to the last non-empty one.
 * - `count`: that many buckets of equal ratio from the smallest to the largest recorded latency (the text
 *   histogram after a run, which has one run to show and a fixed number of lines to fill).
 */
export type LogGrid = { perDecade: number } | { count: number };

interface GridLayout {
  /** Bucket of a value in µs. */
  index(us: number): number;
  /** Lower edge of bucket k, ms. */
  edgeMs(k: number): number;
  /** First and last bucket shown when the grid itself fixes them. */
  range?: [number, number];
}

function fixedGrid(perDecade: number): GridLayout {
  return {
    // A tiny epsilon keeps a value lying exactly on an edge (1 ms, 10 ms) in the bucket that starts there.
    index: (us) => Math.floor(Math.log10(usToMs(us)) * perDecade + 1e-9),
    edgeMs: (k) => Number((10 ** (k / perDecade)).toPrecision(6)),
  };
}

function spanGrid(minUs: number, maxUs: number, count: number): GridLayout {
  const ratio = maxUs / minUs;
  const n = ratio <= 1 ? 1 : Math.max(1, Math.floor(count));
  return {
    index: (us) => (n === 1 ? 0 : Math.min(n - 1, Math.floor((n * Math.log(us / minUs)) / Math.log(ratio)))),
    edgeMs: (k) => usToMs(k === 0 ? minUs : k === n ? maxUs : minUs * Math.pow(ratio, k / n)),
    range: [0, n - 1],
  };
}

/**
 * Log-spaced buckets (see LogGrid); empty buckets inside the range are kept with count 0. Each recorded
 * value is placed by its HDR bucket's value clamped into [min, max], as the summary's figures are, so every
 * sample lands in exactly one bucket and the counts sum to the total.
 */
export function logBuckets(h: LatencyHistogram, grid: LogGrid = { perDecade: LOG_BUCKETS_PER_DECADE }): HistogramBucket[] {
  const x = h.hdr;
  if (x.totalCount === 0) return [];
  const min = x.minNonZeroValue;
  const max = x.maxValue;
  const layout = 'perDecade' in grid ? fixedGrid(grid.perDecade) : spanGrid(min, max, grid.count);
  const counts = new Map<number, number>();
  for (const v of recordedValues(h)) {
    const k = layout.index(Math.min(max, Math.max(min, v.us)));
    counts.set(k, (counts.get(k) ?? 0) + v.count);
  }
  const ks = [...counts.keys()];
  const [lo, hi] = layout.range ?? [Math.min(...ks), Math.max(...ks)];
  const out: HistogramBucket[] = [];
  for (let k = lo; k <= hi; k++) out.push({ from_ms: layout.edgeMs(k), to_ms: layout.edgeMs(k + 1), count: counts.get(k) ?? 0 });
  return out;
}
