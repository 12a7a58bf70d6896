/**
 * Vega-Lite chart specs for reports, and rendering them to SVG (vega View.toSVG, no browser, no canvas)
 * and to PNG (sharp rasterises the SVG). One spec per chart so the HTML and the PNGs always agree.
 */
import sharp from 'sharp';
import { importEsm } from './esm';
import type { RunReport } from './report-json';

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

/** A short unique label per run for legends: "1 bench c=4 (r.json)". */
export function runLabels(runs: Array<{ report: RunReport; file: string }>): string[] {
  return runs.map(({ report, file }, i) => {
    const s = report.settings;
    const load = s.rate ? `rate=${String(s.rate)}` : s.concurrency ? `c=${String(s.concurrency)}` : s.fps ? `fps=${String(s.fps)}` : '';
    return `${i + 1} ${report.verb}${load ? ' ' + load : ''} (${file.split('/').pop()})`;
  });
}

function base(title: string, data: unknown[]): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    data: { values: data },
  };
}

/** Colour by run with the legend under the plot, so every chart tells the runs apart the same way. */
function byRun(): Record<string, unknown> {
  return { field: 'run', type: 'nominal', legend: { orient: 'bottom', columns: 1 } };
}

/** A single-view chart: `base` with `heading` and `data`, then its mark and encoding. */
function chart(id: string, title: string, heading: string, data: unknown[], view: { mark: unknown; encoding: Record<string, unknown> }): Chart {
  return { id, title, spec: { ...base(heading, data), ...view } };
}

/** A line chart of a per-second series (field `t`), `y` against the second of the run, one line per run. */
function overTime(id: string, title: string, heading: string, data: unknown[], y: Record<string, unknown>, more: Record<string, unknown> = {}): Chart {
  return chart(id, title, heading, data, {
    mark: { type: 'line', point: true },
    encoding: { x: { field: 't', type: 'quantitative', title: 'second of the run' }, y, color: byRun(), ...more },
  });
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
          x: { field: 'ms', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } },
          y: { field: 'fraction', type: 'quantitative', title: 'fraction ≤ latency', scale: { domain: [0, 1] } },
          color: byRun(),
        },
      }),
    );
  }
  const histData = runs.flatMap(({ report }, i) => report.histogram.buckets.map((b) => ({ run: labels[i], from: b.from_ms, to: b.to_ms, count: b.count })));
  if (histData.length > 0) {
    charts.push(
      chart('latency-histogram', 'Latency histogram', 'Latency histogram', histData, {
        mark: { type: 'bar', opacity: 0.6 },
        encoding: {
          x: { field: 'from', type: 'quantitative', title: 'latency (ms)' },
          x2: { field: 'to' },
          y: { field: 'count', type: 'quantitative', title: 'requests', stack: null },
          color: byRun(),
        },
      }),
    );
  }
  const latSeries = runs.flatMap(({ report }, i) =>
    report.series.filter((p) => p.ok > 0).flatMap((p) => [
      { run: labels[i], t: p.t_s, stat: 'p50', ms: p.p50_ms },
      { run: labels[i], t: p.t_s, stat: 'p99', ms: p.p99_ms },
    ]),
  );
  if (latSeries.length > 0) {
    charts.push(
      overTime('latency-over-time', 'Latency over time', 'Latency over time (per second, by completion)', latSeries, { field: 'ms', type: 'quantitative', title: 'latency (ms)' }, {
        strokeDash: { field: 'stat', type: 'nominal', title: 'percentile' },
      }),
    );
    const tpSeries = runs.flatMap(({ report }, i) => report.series.map((p) => ({ run: labels[i], t: p.t_s, rps: p.ok, errors: p.errors })));
    charts.push(overTime('throughput-over-time', 'Throughput over time', 'Throughput over time (OK responses per second)', tpSeries, { field: 'rps', type: 'quantitative', title: 'responses/s' }));
  }
  const sweepData = runs.flatMap(({ report }, i) =>
    (report.sweep?.levels ?? []).flatMap((l) => [
      { run: labels[i], concurrency: l.concurrency, metric: 'throughput (req/s)', value: l.throughput_rps },
      { run: labels[i], concurrency: l.concurrency, metric: 'p99 latency (ms)', value: l.p99_ms },
    ]),
  );
  if (sweepData.length > 0) {
    charts.push({
      id: 'sweep',
      title: 'Throughput and p99 vs concurrency',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'Concurrency sweep',
        background: 'white',
        data: { values: sweepData },
        facet: { row: { field: 'metric', type: 'nominal', title: null } },
        resolve: { scale: { y: 'independent' } },
        spec: {
          width: WIDTH,
          height: HEIGHT / 2,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'concurrency', type: 'quantitative', scale: { type: 'log', base: 2 } },
            y: { field: 'value', type: 'quantitative', title: null },
            color: byRun(),
          },
        },
      },
    });
  }
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
          x: { field: 'stat', type: 'nominal', title: null },
          xOffset: { field: 'run' },
          y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' },
          color: byRun(),
        },
      }),
    );
  }
  return charts;
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
