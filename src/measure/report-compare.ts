/**
 * Change figures between runs: for p50, p99, throughput and jitter, each run against the first (the
 * baseline) as Δ and ratio, and whether the difference is inside the runs' own window-to-window spread.
 *
 * Windows and spread (documented in docs/CLIENT.md, "Reports"):
 * - p50, p99, throughput: one window per whole second of the run's `series` (the partial last second is
 *   dropped, see timeseries.ts wholeSeconds), seconds with no OK response skipped; the window value is that
 *   second's p50, p99 or OK count (= responses/s).
 * - jitter (ping runs only: load runs record no per-request order): consecutive groups of JITTER_WINDOW
 *   measured probes in send order (a trailing short group dropped); the window value is the group's mean
 *   |IPDV| of RTT over consecutive pairs that both arrived.
 * - A run's spread for a figure is max − min of its window values (needs ≥ 2 windows). A difference is
 *   "within noise" when |Δ| ≤ the larger spread of the two runs: the runs wander that much by themselves
 *   from one window to the next, so a change that small is not evidence of a difference.
 */
import { jitter } from './jitter';
import type { RunReport } from './report-json';
import { wholeSeconds } from './timeseries';

export const JITTER_WINDOW = 10;

export type Figure = 'p50' | 'p99' | 'throughput' | 'jitter';

export const FIGURES: ReadonlyArray<{ key: Figure; label: string; unit: string }> = [
  { key: 'p50', label: 'latency p50', unit: 'ms' },
  { key: 'p99', label: 'latency p99', unit: 'ms' },
  { key: 'throughput', label: 'throughput', unit: 'responses/s' },
  { key: 'jitter', label: 'jitter (mean |IPDV|)', unit: 'ms' },
];

type Values = Record<Figure, number | undefined>;

interface LatencyLike {
  percentiles_ms?: Record<string, number>;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

function summaryOf(r: RunReport): Record<string, unknown> {
  return r.summary ?? {};
}

/** The run's headline figures (undefined when the run has none, e.g. jitter of a load run). */
export function headline(r: RunReport): Values {
  const s = summaryOf(r);
  const lat = (s.latency ?? s.rtt) as LatencyLike | undefined;
  const duration = num(s.duration_s);
  const received = num(s.received);
  const throughput = num(s.throughput_rps) ?? (received !== undefined && duration ? received / duration : undefined);
  const j = (s.jitter as { rtt?: { mean_abs_ipdv_ms?: number } } | undefined)?.rtt;
  return { p50: num(lat?.percentiles_ms?.p50), p99: num(lat?.percentiles_ms?.p99), throughput, jitter: num(j?.mean_abs_ipdv_ms) };
}

/** The run's window values per figure (see the module comment). */
export function windowValues(r: RunReport): Record<Figure, number[]> {
  const duration = num(summaryOf(r).duration_s);
  const secs = (duration === undefined ? r.series : wholeSeconds(r.series, duration)).filter((p) => p.ok > 0);
  const probes = (r.probes ?? []) as Array<{ rtt_ns?: number }>;
  const jit: number[] = [];
  for (let i = 0; i + JITTER_WINDOW <= probes.length; i += JITTER_WINDOW) {
    const j = jitter(probes.slice(i, i + JITTER_WINDOW).map((p) => (typeof p.rtt_ns === 'number' ? p.rtt_ns : null)));
    if (j.pairs > 0) jit.push(j.meanAbsIpdv / 1e6);
  }
  return { p50: secs.map((p) => p.p50_ms), p99: secs.map((p) => p.p99_ms), throughput: secs.map((p) => p.ok), jitter: jit };
}

/** max − min of the window values; undefined with fewer than 2 windows. */
export function spread(values: number[]): number | undefined {
  return values.length < 2 ? undefined : Math.max(...values) - Math.min(...values);
}

export interface Change {
  figure: Figure;
  baseline?: number;
  value?: number;
  delta?: number;
  ratio?: number;
  /** The larger of the two runs' spreads (undefined when neither run has 2 windows). */
  noise?: number;
  /** 'within noise' | 'beyond noise' | why it cannot be judged. */
  judgement: string;
}

export interface Comparison {
  /** Index of the compared run (≥ 1); run 0 is the baseline. */
  run: number;
  changes: Change[];
}

export function compareRuns(reports: RunReport[]): Comparison[] {
  if (reports.length < 2) return [];
  const base = reports[0];
  const b = headline(base);
  const bw = windowValues(base);
  return reports.slice(1).map((r, i) => {
    const v = headline(r);
    const w = windowValues(r);
    const changes = FIGURES.map(({ key }): Change => {
      const x = b[key];
      const y = v[key];
      if (x === undefined || y === undefined) return { figure: key, baseline: x, value: y, judgement: 'not measured in both runs' };
      const spreads = [spread(bw[key]), spread(w[key])].filter((s): s is number => s !== undefined);
      const noise = spreads.length > 0 ? Math.max(...spreads) : undefined;
      const delta = y - x;
      const judgement = noise === undefined ? 'spread unknown (< 2 windows)' : Math.abs(delta) <= noise ? 'within noise' : 'beyond noise';
      return { figure: key, baseline: x, value: y, delta, ratio: x !== 0 ? y / x : undefined, noise, judgement };
    });
    return { run: i + 1, changes };
  });
}
