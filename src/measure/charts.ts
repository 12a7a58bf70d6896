/**
 * Vega-Lite chart specs for reports, and rendering them to SVG (vega View.toSVG, no browser, no canvas)
 * and to PNG (sharp rasterises the SVG). One spec per chart so the HTML and the PNGs always agree.
 */
import sharp from 'sharp';
import { importEsm } from './esm';
import type { RunReport } from './report-json';
import { wholeSeconds } from './timeseries';
import type { LatencySummary } from './histogram';
import type { PathSeriesPoint, PathSummary } from './path';

// The subset of the vega / vega-lite APIs used here (their types are ESM-only and would not resolve
// under CommonJS module resolution).
interface VegaView {
  toSVG(scale?: number): Promise<string>;
  finalize(): void;
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, o: { renderer: string }) => VegaView;
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

export interface Chart {
  /** File-name stem, e.g. "latency-cdf". */
  id: string;
  title: string;
  spec: Record<string, unknown>;
}

const WIDTH = 640;
const HEIGHT = 300;

/**
 * A short unique label per run for legends and column heads: "1 bench c=4 (r.json)". A sweep run's
 * summary, histogram and series are those of its last level, so its label names that level (its
 * settings.concurrency is only the unused --concurrency default).
 */
export function runLabels(runs: Array<{ report: RunReport; file: string }>): string[] {
  return runs.map(({ report, file }, i) => {
    const s = report.settings;
    const levels = report.sweep?.levels.map((l) => l.concurrency) ?? [];
    const load = levels.length > 0
      ? `c=${String(levels[levels.length - 1])} (last level of sweep ${levels.join(',')})`
      : s.rate ? `rate=${String(s.rate)}` : s.fps ? `fps=${String(s.fps)}` : s.concurrency ? `c=${String(s.concurrency)}` : '';
    return `${i + 1} ${report.verb}${load ? ' ' + load : ''} (${file.split('/').pop()})`;
  });
}

/** Legends and facet headers are never truncated: a cut label ("1 bench c=4 (r.jso…") cannot tell runs apart. */
const CONFIG = { legend: { labelLimit: 0, titleLimit: 0 }, header: { labelLimit: 0 } };

function base(title: string, data: unknown[]): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    data: { values: data },
  };
}

/** Colour by run with the legend under the plot, so every chart tells the runs apart the same way. */
function byRun(labels: string[]): Record<string, unknown> {
  return { field: 'run', type: 'nominal', sort: labels, legend: { orient: 'bottom', columns: 1, labelLimit: 0 } };
}

/** A single-view chart: `base` with `heading` and `data`, then its mark and encoding. */
function chart(id: string, title: string, heading: string, data: unknown[], view: { mark: unknown; encoding: Record<string, unknown> }): Chart {
  return { id, title, spec: { ...base(heading, data), ...view } };
}

/** x = the second of the run, whole seconds only (ticks on integers). */
const SECOND_AXIS = { field: 't', type: 'quantitative', title: 'second of the run (partial last second left out)', axis: { tickMinStep: 1, format: 'd' } };

/**
 * The latency histogram, one row per run with its own count axis. Bars start at 0 and span their bucket.
 * With log_buckets (every run on one grid of 10 buckets per decade) the x scale is log, so every bar has
 * the same width on screen and a tail spanning decades stays readable; older files without log_buckets
 * fall back to their equal-width buckets on a linear scale.
 */
function histogramChart(runs: Array<{ report: RunReport }>, labels: string[]): Chart | undefined {
  const log = runs.every(({ report }) => report.histogram.log_buckets !== undefined);
  const data = runs.flatMap(({ report }, i) =>
    (log ? report.histogram.log_buckets ?? [] : report.histogram.buckets).map((b) => ({ run: labels[i], from: b.from_ms, to: b.to_ms, count: b.count })),
  );
  if (data.length === 0) return undefined;
  return {
    id: 'latency-histogram',
    title: 'Latency histogram',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: log ? 'Latency histogram (log-spaced buckets, 10 per decade)' : 'Latency histogram (equal-width buckets)',
      background: 'white',
      config: CONFIG,
      data: { values: data },
      facet: { row: { field: 'run', type: 'nominal', sort: labels, title: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontWeight: 'bold', labelLimit: 0 } } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: WIDTH,
        height: Math.max(120, Math.round(HEIGHT / Math.min(2, runs.length))),
        mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'from', type: 'quantitative', title: log ? 'latency (ms, log scale)' : 'latency (ms)', scale: log ? { type: 'log', nice: false } : { zero: false, nice: false } },
          x2: { field: 'to' },
          y: { field: 'count', type: 'quantitative', title: 'requests', scale: { domainMin: 0 }, axis: { tickMinStep: 1, format: 'd' } },
          y2: { datum: 0 },
          color: { ...byRun(labels), legend: null },
        },
      },
    },
  };
}

/** Per-second series of a run, whole seconds only (timeseries.ts wholeSeconds says why). */
function seriesOf(report: RunReport) {
  const d = (report.summary as { duration_s?: unknown }).duration_s;
  return typeof d === 'number' ? wholeSeconds(report.series, d) : report.series;
}

export function chartsFor(runs: Array<{ report: RunReport; file: string }>): Chart[] {
  const labels = runLabels(runs);
  const charts: Chart[] = [];
  const cdfData = runs.flatMap(({ report }, i) => report.histogram.cdf.map((p) => ({ run: labels[i], ms: p.ms, fraction: p.fraction })));
  if (cdfData.length > 0) {
    charts.push(
      chart('latency-cdf', 'Latency CDF', 'Latency CDF (successful requests)', cdfData, {
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' } },
          y: { field: 'fraction', type: 'quantitative', title: 'fraction ≤ latency', scale: { domain: [0, 1] } },
          color: byRun(labels),
        },
      }),
    );
  }
  const hist = histogramChart(runs, labels);
  if (hist) charts.push(hist);
  const latSeries = runs.flatMap(({ report }, i) =>
    seriesOf(report).filter((p) => p.ok > 0).flatMap((p) => [
      { run: labels[i], t: p.t_s, stat: 'p50', ms: p.p50_ms },
      { run: labels[i], t: p.t_s, stat: 'p99', ms: p.p99_ms },
    ]),
  );
  if (latSeries.length > 0) {
    // p50 and p99 differ in dash and point shape, and the legend draws each as a stroke with its point.
    const stat = { field: 'stat', type: 'nominal', title: 'percentile', sort: ['p50', 'p99'] };
    charts.push(
      chart('latency-over-time', 'Latency over time', 'Latency over time (per second, by completion)', latSeries, {
        mark: { type: 'line', point: true },
        encoding: {
          x: SECOND_AXIS,
          y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' },
          color: byRun(labels),
          strokeDash: { ...stat, scale: { domain: ['p50', 'p99'], range: [[1, 0], [6, 4]] } },
          shape: { ...stat, scale: { domain: ['p50', 'p99'], range: ['circle', 'square'] } },
        },
      }),
    );
    const tpSeries = runs.flatMap(({ report }, i) => seriesOf(report).map((p) => ({ run: labels[i], t: p.t_s, rps: p.ok, errors: p.errors })));
    charts.push(
      chart('throughput-over-time', 'Throughput over time', 'Throughput over time (OK responses per whole second)', tpSeries, {
        mark: { type: 'line', point: true },
        encoding: { x: SECOND_AXIS, y: { field: 'rps', type: 'quantitative', title: 'responses/s' }, color: byRun(labels) },
      }),
    );
  }
  const sweepData = runs.flatMap(({ report }, i) =>
    (report.sweep?.levels ?? []).flatMap((l) => [
      { run: labels[i], concurrency: l.concurrency, metric: 'throughput (req/s)', value: l.throughput_rps },
      { run: labels[i], concurrency: l.concurrency, metric: 'p99 latency (ms)', value: l.p99_ms },
    ]),
  );
  if (sweepData.length > 0) {
    // Ticks at the swept levels only: concurrency is a whole number, and a log axis left to itself
    // labels fractions between them.
    const levels = [...new Set(sweepData.map((d) => d.concurrency))].sort((a, b) => a - b);
    charts.push({
      id: 'sweep',
      title: 'Throughput and p99 vs concurrency',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'Concurrency sweep',
        background: 'white',
        config: CONFIG,
        data: { values: sweepData },
        facet: { row: { field: 'metric', type: 'nominal', title: null, header: { labelLimit: 0 } } },
        resolve: { scale: { y: 'independent' } },
        spec: {
          width: WIDTH,
          height: HEIGHT / 2,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'concurrency', type: 'quantitative', title: 'concurrency (requests in flight)', scale: { type: 'log', base: 2 }, axis: { values: levels, format: 'd' } },
            y: { field: 'value', type: 'quantitative', title: null },
            color: byRun(labels),
          },
        },
      },
    });
  }
  charts.push(...pathCharts(runs, labels));
  if (runs.length > 1) {
    const cmp = runs.flatMap(({ report }, i) => {
      const lat = (report.summary.latency ?? report.summary.rtt) as { percentiles_ms?: Record<string, number> } | undefined;
      const p = lat?.percentiles_ms ?? {};
      return ['p50', 'p90', 'p99'].map((k) => ({ run: labels[i], stat: k, ms: p[k] ?? 0 }));
    });
    charts.push(
      chart('comparison', 'Runs side by side', 'Latency percentiles, run by run', cmp, {
        mark: 'bar',
        encoding: {
          x: { field: 'stat', type: 'nominal', title: null, axis: { labelAngle: 0 } },
          xOffset: { field: 'run', sort: labels },
          y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' },
          color: byRun(labels),
        },
      }),
    );
  }
  return charts;
}

/** The hops of the waterfall, in path order, with the summary.path fields of their figures. */
const HOPS: Array<{ hop: string; summary: keyof PathSummary; series: keyof PathSeriesPoint }> = [
  { hop: 'client↔edge RTT', summary: 'client_edge_rtt_ms', series: 'client_edge_rtt_p50_ms' },
  { hop: 'edge→server network', summary: 'edge_server_network_ms', series: 'edge_server_network_p50_ms' },
  { hop: 'server', summary: 'server_ms', series: 'server_p50_ms' },
  { hop: 'other (unexplained)', summary: 'unexplained_ms', series: 'unexplained_p50_ms' },
];

/**
 * Where the time goes (summary.path): the hops stacked at p50 and at p99, and each hop's p50 per second.
 * Each hop's percentile is over its own calls, so a stack is not the end-to-end percentile (the caption
 * says so); a hop the run could not observe (no edge) is left out rather than drawn as zero.
 */
function pathCharts(runs: Array<{ report: RunReport }>, labels: string[]): Chart[] {
  const withPath = runs.map(({ report }, i) => ({ label: labels[i], path: (report.summary as { path?: PathSummary }).path })).filter((r): r is { label: string; path: PathSummary } => r.path !== undefined && r.path.calls > 0);
  if (withPath.length === 0) return [];
  const hopOrder = HOPS.map((h) => h.hop);
  // One bar per run and percentile, named "p50" or, with several runs, "p50 · run 2" (the run's number in the legends).
  const stacked = withPath.flatMap(({ label, path }) =>
    ['p50', 'p99'].flatMap((stat) =>
      HOPS.flatMap((h, order) => {
        const x = path[h.summary] as LatencySummary | null;
        const bar = withPath.length > 1 ? `${stat} · run ${label.split(' ')[0]}` : stat;
        return x && x.count > 0 ? [{ run: label, bar, hop: h.hop, order, ms: x.percentiles_ms[stat] }] : [];
      }),
    ),
  );
  const over = withPath.flatMap(({ label, path }) =>
    path.series.flatMap((p) => HOPS.flatMap((h) => (typeof p[h.series] === 'number' ? [{ run: label, t: p.t_s, hop: h.hop, ms: p[h.series] as number }] : []))),
  );
  const hopColour = { field: 'hop', type: 'nominal', title: 'hop', sort: hopOrder, legend: { orient: 'bottom', labelLimit: 0 } };
  return [
    chart('path-hops', 'Where the time goes: each hop at p50 and p99 (each hop\'s own percentile; the stack is not the end-to-end percentile)', 'Per-hop latency (stacked)', stacked, {
      mark: 'bar',
      encoding: {
        x: { field: 'bar', type: 'nominal', title: null, axis: { labelAngle: 0 } },
        y: { field: 'ms', type: 'quantitative', title: 'ms', stack: 'zero' },
        color: hopColour,
        order: { field: 'order', type: 'quantitative' },
        tooltip: [{ field: 'run' }, { field: 'hop' }, { field: 'ms', format: '.3f' }],
      },
    }),
    chart('path-over-time', 'Each hop over time (p50 per second of the run, by send time)', 'Per-hop latency over time (p50 per second)', over, {
      mark: { type: 'line', point: true },
      encoding: {
        x: { ...SECOND_AXIS, title: 'second of the run (by send time)' },
        y: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: hopColour,
        ...(withPath.length > 1 ? { strokeDash: { field: 'run', type: 'nominal', sort: labels, legend: { orient: 'bottom', columns: 1, labelLimit: 0 } } } : {}),
      },
    }),
  ];
}

export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const vl = await importEsm<VegaLiteModule>('vega-lite');
  const vega = await importEsm<VegaModule>('vega');
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG at 2× the SVG's size (sharp rasterises SVG at 72 dpi; density 144 doubles it for sharp text). */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}
