import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../src/client/cli';
import { chartsFor } from '../src/measure/charts';
import { readReport, RunReport } from '../src/measure/report-json';
import { startServer, RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { suiteTempDir } from './helpers/temp-dir';

// What a reader of `rtinfer report` sees, checked on reports rendered from real runs against an
// in-process server: the properties that made the charts misleading, read back from the SVG and HTML.

const quietIo = { out: (): void => undefined, err: (): void => undefined };

/** Each <figure id=…> of report.html: its inline SVG. */
function figures(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<figure id="([^"]+)">([\s\S]*?)<\/figure>/g)) out[m[1]] = m[2];
  return out;
}

/** Every axis of an SVG: vega's description ("Y-axis titled 'requests' for a linear scale …") and its tick labels. */
function axes(svg: string): Array<{ label: string; ticks: string[] }> {
  return svg
    .split('aria-roledescription="axis"')
    .slice(1)
    .map((chunk) => {
      const label = /aria-label="([^"]*)"/.exec(chunk)?.[1] ?? '';
      const group = /class="mark-text role-axis-label"[^>]*>([\s\S]*?)<\/g>/.exec(chunk)?.[1] ?? '';
      const ticks = [...group.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]).filter((t) => t !== '');
      return { label, ticks };
    });
}

/** Legend entries: label text and the drawing of its symbol (path data and paint, without its position). */
function legendEntries(svg: string): Array<{ label: string; symbol: string }> {
  return [...svg.matchAll(/role-legend-symbol"[^>]*><path ([^>]*)\/><\/g><g class="mark-text role-legend-label"[^>]*><text[^>]*>([^<]*)<\/text>/g)].map((m) => ({
    label: m[2],
    symbol: m[1].replace(/transform="[^"]*"/, '').replace(/opacity="[^"]*"/, ''),
  }));
}

/**
 * Whether two legend symbols look different: another shape or fill, or another dash on a symbol drawn as a
 * stroke only (a dash on the outline of a filled dot is invisible: the "two identical dots" legend).
 */
function visiblyDistinct(a: string, b: string): boolean {
  const attr = (s: string, k: string): string => new RegExp(`\\b${k}="([^"]*)"`).exec(s)?.[1] ?? '';
  const strokeOnly = (s: string): boolean => ['', 'none', 'transparent'].includes(attr(s, 'fill'));
  if (attr(a, 'd') !== attr(b, 'd') || attr(a, 'fill') !== attr(b, 'fill')) return true;
  return strokeOnly(a) && strokeOnly(b) && attr(a, 'stroke-dasharray') !== attr(b, 'stroke-dasharray');
}

/** Pixel widths of the bars of a histogram SVG (vega draws a rect as "M x,y h W v H h −W Z"). */
function barWidths(svg: string): number[] {
  return [...svg.matchAll(/aria-roledescription="bar" d="M[-\d.e]+,[-\d.e]+h([-\d.e]+)v/g)].map((m) => Number(m[1]));
}

/** Rows of the summary table: label → cells. */
function summaryRows(html: string): Map<string, string[]> {
  const table = /<h2>Summary<\/h2>\s*<table>([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  const rows = new Map<string, string[]>();
  for (const m of table.matchAll(/<tr><th>([^<]*)<\/th>([\s\S]*?)<\/tr>/g)) rows.set(m[1], [...m[2].matchAll(/<td>([\s\S]*?)<\/td>/g)].map((c) => c[1]));
  return rows;
}

const parseNum = (s: string): number => Number(s.replace('−', '-').replace('±', '').replace('×', '').replace(/,/g, ''));

describe('report: rendered from real runs, read back as a person would', function () {
  this.timeout(180000);
  let server: RunningServer;
  let target: string;
  const tmp = suiteTempDir('rtinfer-report-render-');
  const file = (n: string): string => path.join(tmp.path, n);
  let loadHtml = '';
  let pingHtml = '';
  let loadRuns: Array<{ file: string; report: RunReport }> = [];

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model, normalize: 'signed', logLevel: 'warn' });
    target = `127.0.0.1:${server.port}`;
    const run = async (...args: string[]): Promise<void> => {
      const code = await main([...args, '--target', target], quietIo);
      expect(code, args.join(' ')).to.be.oneOf([0, 4]);
    };
    await run('bench', '-C', '2', '-d', '2.5', '--warmup', '0.2', '--json', file('a.json'));
    await run('bench', '-C', '2', '-d', '2.5', '--warmup', '0.2', '--json', file('b.json'));
    await run('bench', '--sweep', '1,2,3', '-d', '1.2', '--warmup', '0.2', '--json', file('sweep.json'));
    await run('stream', '--fps', '20', '-d', '2.5', '--warmup', '0.2', '--json', file('stream.json'));
    await run('ping', '-c', '30', '-i', '20', '-q', '--json', file('ping.json'));
    await run('ping', '-c', '30', '-i', '20', '-q', '--json', file('ping2.json'));
    // a.json a second time: a run against itself differs by nothing, which must read "within noise".
    const loadFiles = ['a.json', 'b.json', 'sweep.json', 'stream.json', 'a.json'].map(file);
    expect(await main(['report', ...loadFiles, '--out', file('load')], quietIo)).to.equal(0);
    expect(await main(['report', file('ping.json'), file('ping2.json'), '--out', file('ping')], quietIo)).to.equal(0);
    loadHtml = fs.readFileSync(file('load/report.html'), 'utf8');
    pingHtml = fs.readFileSync(file('ping/report.html'), 'utf8');
    loadRuns = loadFiles.map((f) => ({ file: f, report: readReport(f) }));
  });
  after(async () => {
    await server?.shutdown(1000);
  });

  it('latency histograms: bars from 0 (no negative count tick) and equal bar widths on a declared log scale', () => {
    for (const html of [loadHtml, pingHtml]) {
      const svg = figures(html)['latency-histogram'];
      expect(svg, 'histogram figure').to.be.a('string');
      const ax = axes(svg);
      expect(ax.some((a) => /^X-axis.*log scale/.test(a.label)), ax.map((a) => a.label).join('\n')).to.equal(true);
      const counts = ax.filter((a) => a.label.startsWith('Y-axis'));
      expect(counts.length).to.be.greaterThan(0);
      for (const a of counts) {
        expect(a.label).to.match(/values from 0 to/);
        for (const t of a.ticks) expect(parseNum(t), `tick ${t}`).to.be.at.least(0);
      }
      const w = barWidths(svg);
      expect(w.length).to.be.greaterThan(2);
      expect(Math.max(...w) - Math.min(...w), `bar widths ${w.join(' ')}`).to.be.below(0.5);
    }
  });

  it('log buckets hold every successful request once, on one grid for every run', () => {
    const grids = loadRuns.map(({ report }) => {
      const b = report.histogram.log_buckets!;
      const count = (report.summary as { latency: { count: number } }).latency.count;
      expect(b.reduce((s, x) => s + x.count, 0)).to.equal(count);
      for (let i = 1; i < b.length; i++) expect(b[i].from_ms).to.equal(b[i - 1].to_ms);
      return b.map((x) => x.from_ms);
    });
    // Where two runs cover the same latency, they share the bucket edge.
    const all = new Set(grids.flat());
    for (const e of all) expect(Math.log10(e) * 10, String(e)).to.be.closeTo(Math.round(Math.log10(e) * 10), 1e-4);
  });

  it('p50 and p99 have distinct legend marks, runs distinct colours, and no legend text is cut', () => {
    const svg = figures(loadHtml)['latency-over-time'];
    const entries = legendEntries(svg);
    const p50 = entries.find((e) => e.label === 'p50');
    const p99 = entries.find((e) => e.label === 'p99');
    expect(p50 && p99, JSON.stringify(entries)).to.not.equal(undefined);
    expect(visiblyDistinct(p50!.symbol, p99!.symbol), `${p50!.symbol}\n${p99!.symbol}`).to.equal(true);
    const runs = entries.filter((e) => /^\d+ /.test(e.label));
    expect(runs).to.have.length(5);
    expect(new Set(runs.map((e) => /fill="([^"]*)"/.exec(e.symbol)?.[1])).size).to.equal(5);
    expect(runs.map((e) => e.label)).to.include('3 bench c=3 (last level of sweep 1,2,3) (sweep.json)');
    for (const html of [loadHtml, pingHtml]) expect(html).to.not.include('…');
  });

  it('the sweep chart labels only whole concurrency levels, and the sweep run is labelled by the level it shows', () => {
    const svg = figures(loadHtml).sweep;
    const x = axes(svg).filter((a) => a.label.startsWith('X-axis'));
    expect(x.length).to.be.greaterThan(0);
    for (const a of x) {
      expect(a.ticks.length).to.be.greaterThan(0);
      for (const t of a.ticks) expect(Number.isInteger(parseNum(t)), `tick ${t}`).to.equal(true);
    }
    const sweep = readReport(file('sweep.json'));
    // The summary column shows the last level's figures; its head must say that level, not --concurrency's default.
    expect((sweep.summary as { sweep_last_level?: number }).sweep_last_level).to.equal(3);
    expect(loadHtml).to.include('<th>3 bench c=3 (last level of sweep 1,2,3) (sweep.json)</th>');
  });

  it('over-time charts leave out the partial last second', () => {
    const a = loadRuns[0].report;
    const duration = (a.summary as { duration_s: number }).duration_s;
    // The run ends part-way through a second that the JSON series still holds…
    expect(a.series.some((p) => p.t_s + 1 > duration)).to.equal(true);
    // …and no chart plots it.
    const charts = chartsFor(loadRuns);
    for (const id of ['throughput-over-time', 'latency-over-time']) {
      const values = (charts.find((c) => c.id === id)!.spec.data as { values: Array<{ run: string; t: number }> }).values;
      const mine = values.filter((v) => v.run.startsWith('1 '));
      expect(mine.length).to.be.greaterThan(0);
      for (const v of mine) expect(v.t + 1, id).to.be.at.most(duration);
    }
  });

  it('the summary names model, engine, weights, images and stability; ping leads jitter with mean |IPDV|', () => {
    const rows = summaryRows(loadHtml);
    for (const k of ['model', 'engine', 'weights', 'images', 'stability']) {
      expect(rows.get(k), k).to.have.length(5);
      for (const cell of rows.get(k)!) expect(cell, k).to.not.match(/^(—|unknown)/);
    }
    expect(rows.get('model')![0]).to.include('mobilenet_v1_0.25_224');
    expect(rows.get('weights')![0]).to.match(/^real/);
    expect(rows.get('images')![0]).to.match(/generated noise JPEGs 224x224/);
    expect(rows.get('stability')![0]).to.match(/^(steady|NOT steady|not judged) — /);
    const ping = [...summaryRows(pingHtml).keys()];
    const ipdv = ping.indexOf('jitter mean |IPDV| (ms)');
    expect(ipdv).to.be.at.least(0);
    expect(ipdv).to.be.below(ping.findIndex((k) => k.startsWith('jitter RFC 3550')));
    expect(summaryRows(pingHtml).get('images')![0]).to.match(/^none/);
  });

  it('synthetic weights are flagged prominently', async () => {
    // The run as recorded against a server started without --model (seeded synthetic GoogLeNet weights).
    const rep = readReport(file('a.json'));
    const model = (rep.environment.server as { model: Record<string, unknown> }).model;
    model.weights = 'WEIGHTS_PROVENANCE_SYNTHETIC';
    model.weightsSource = 'seed:1';
    fs.writeFileSync(file('synthetic.json'), JSON.stringify(rep));
    expect(await main(['report', file('synthetic.json'), '--out', file('synthetic')], quietIo)).to.equal(0);
    const html = fs.readFileSync(file('synthetic/report.html'), 'utf8');
    expect(html).to.match(/<p class="synthetic">[^<]*SYNTHETIC weights[^<]*predictions are meaningless/);
    expect(summaryRows(html).get('weights')![0]).to.match(/SYNTHETIC/);
  });

  it('comparing runs gives Δ and ratio per figure against the first run, judged against the runs\' spread', () => {
    for (const [html, pairs] of [[loadHtml, 4], [pingHtml, 1]] as const) {
      const table = /<table class="changes">([\s\S]*?)<\/table>/.exec(html)?.[1];
      expect(table, 'change table').to.be.a('string');
      expect(table).to.include('<th>Δ</th>').and.to.include('<th>ratio</th>');
      const rows = [...table!.matchAll(/<tr><th>([^<]*)<\/th><th>([^<]*)<\/th><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td class="[^"]*">([^<]*)<\/td><\/tr>/g)];
      expect(rows).to.have.length(pairs * 4);
      for (const figure of ['latency p50', 'latency p99', 'throughput', 'jitter']) expect(rows.some((r) => r[2].startsWith(figure)), figure).to.equal(true);
      for (const [, , figure, base, value, delta, ratio, band, judgement] of rows) {
        if (delta === '—') continue;
        const unit = figure.startsWith('throughput') ? 0.1 : 0.001; // the table's rounding
        expect(parseNum(delta)).to.be.closeTo(parseNum(value) - parseNum(base), 1.6 * unit);
        if (ratio !== '—') {
          const [b, v] = [parseNum(base), parseNum(value)];
          expect(parseNum(ratio)).to.be.closeTo(v / b, 0.001 + (v / b) * (unit / Math.abs(b) + unit / Math.abs(v)));
        }
        // Judged on unrounded figures: compare only where rounding cannot tip it.
        if (band !== '—' && Math.abs(Math.abs(parseNum(delta)) - parseNum(band)) > unit) {
          expect(judgement).to.equal(Math.abs(parseNum(delta)) <= parseNum(band) ? 'within noise' : 'beyond noise');
        }
      }
      if (html === loadHtml) {
        // The last run is the baseline again: every measured figure is "within noise".
        const self = rows.filter((r) => r[1].startsWith('5 '));
        expect(self.filter((r) => r[7] !== '—').map((r) => r[8])).to.deep.equal(['within noise', 'within noise', 'within noise']);
      } else {
        // ping: jitter is compared, with its spread over groups of 10 probes.
        const j = rows.find((r) => r[2].startsWith('jitter'))!;
        expect(j[7]).to.not.equal('—');
      }
    }
  });
});
