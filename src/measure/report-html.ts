/**
 * `report RUN.json …` → one self-contained HTML file (inline SVG charts, inline CSS, no scripts, no
 * network) plus one PNG per chart, for pasting into tickets and docs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chartsFor, renderSvg, runLabels, svgToPng } from './charts';
import { compareRuns, Comparison, FIGURES, headline, JITTER_WINDOW } from './report-compare';
import type { MergedAgent, RunReport } from './report-json';
import { stabilityWord } from './stability';
import { threadsText } from './load-printer';

export interface ReportFiles {
  html: string;
  pngs: string[];
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** A cell already rendered as HTML (everything else is escaped). */
interface Html {
  html: string;
}

function num(x: unknown, digits = 3): string {
  if (x && typeof x === 'object' && 'html' in x) return (x as Html).html;
  return typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(digits)) : x === undefined ? '—' : esc(x);
}

type Rec = Record<string, unknown>;
const rec = (x: unknown): Rec | undefined => (x && typeof x === 'object' ? (x as Rec) : undefined);

/** What the server said it runs (GetServerInfo, recorded by every remote verb in environment.server). */
function server(r: RunReport): { model?: Rec; engine?: Rec } {
  const s = rec(r.environment.server);
  return { model: rec(s?.model), engine: rec(s?.engine) };
}

export function isSynthetic(r: RunReport): boolean {
  return server(r).model?.weights === 'WEIGHTS_PROVENANCE_SYNTHETIC';
}

const NO_INFO = 'unknown (the server did not answer GetServerInfo)';

function modelCell(r: RunReport): string {
  const m = server(r).model;
  if (!m) return NO_INFO;
  const size = m.inputWidth && m.inputHeight ? `, ${String(m.inputWidth)}×${String(m.inputHeight)}` : '';
  const params = m.parameters !== undefined ? `, ${Number(m.parameters).toLocaleString('en-US')} parameters` : '';
  return `${String(m.name ?? '?')} (${String(m.format ?? '?')}${size}${params})`;
}

function engineCell(r: RunReport): string {
  const e = server(r).engine;
  if (!e) return NO_INFO;
  const lib = [e.library, e.version].filter(Boolean).join(' ');
  const n = (x: unknown): number | undefined => (Number(x) > 0 ? Number(x) : undefined);
  const extra = [e.executionProvider, threadsText({ threads: n(e.threads), instances: n(e.instances), soloThreads: n(e.soloThreads) }) ?? ''].filter(Boolean).join(', ');
  return `${String(e.backend ?? '?')}${lib ? ` — ${lib}` : ''}${extra ? ` (${extra})` : ''}`;
}

function weightsCell(r: RunReport): Html | string {
  const m = server(r).model;
  if (!m) return NO_INFO;
  const source = m.weightsSource ? ` — ${String(m.weightsSource)}` : '';
  if (isSynthetic(r)) return { html: `<span class="synthetic">SYNTHETIC (seeded random)${esc(source)}: timings are real, predictions are meaningless</span>` };
  return m.weights === 'WEIGHTS_PROVENANCE_REAL' ? `real${source}` : `unspecified${source}`;
}

/** Which images the run sent, from its settings (generated noise is said to be noise). */
function imagesCell(r: RunReport): string {
  const s = r.settings;
  if (r.verb === 'ping' || s.rpc === 'ping') return 'none (Ping RPC: no image)';
  const files = (r.verb === 'classify' ? s.files : s.images) as unknown;
  if (Array.isArray(files) && files.length > 0) {
    const names = files.map((f) => String(f).split('/').pop());
    return `${files.length} file(s): ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`;
  }
  return `generated noise JPEGs ${String(s.imageSize ?? '224x224')} (random pixels, not photos)`;
}

function stabilityCell(r: RunReport): string {
  if (r.stability) return `${stabilityWord(r.stability)} — ${r.stability.reason}`;
  return r.verb === 'ping' ? 'not assessed for ping' : '—';
}

/** Headline rows shared by every verb: [label, value per run]. */
function comparisonRows(reports: RunReport[]): Array<[string, string[]]> {
  const get = (r: RunReport, ...keys: string[]): unknown => {
    let v: unknown = r.summary;
    for (const k of keys) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    return v;
  };
  const lat = (r: RunReport): Record<string, unknown> | undefined =>
    (r.summary.latency ?? r.summary.rtt) as Record<string, unknown> | undefined;
  const pct = (r: RunReport, k: string): unknown => (lat(r)?.percentiles_ms as Record<string, number> | undefined)?.[k];
  const rows: Array<[string, (r: RunReport) => unknown]> = [
    ['verb', (r) => r.verb],
    ['date', (r) => r.date],
    ['target', (r) => r.environment.target],
    ['model', modelCell],
    ['engine', engineCell],
    ['weights', weightsCell],
    ['images', imagesCell],
    ['stability', stabilityCell],
    ['requests OK / errors', (r) => `${num(get(r, 'ok') ?? get(r, 'received'))} / ${num(get(r, 'errors') ?? get(r, 'lost'))}`],
    ['duration (s)', (r) => get(r, 'duration_s')],
    ['throughput (responses/s)', (r) => headline(r).throughput],
    ['images/s', (r) => get(r, 'images_per_s') ?? get(r, 'achieved_fps')],
    ['MB/s up / down', (r) => `${num(get(r, 'mb_per_s_up'))} / ${num(get(r, 'mb_per_s_down'))}`],
    ['latency min (ms)', (r) => lat(r)?.min_ms],
    ['latency mean (ms)', (r) => lat(r)?.mean_ms],
    ...(['p50', 'p90', 'p99', 'p99.9'].map((k) => [`latency ${k} (ms)`, (r: RunReport) => pct(r, k)]) as Array<[string, (r: RunReport) => unknown]>),
    ['latency max (ms)', (r) => lat(r)?.max_ms],
    ['server total (ms)', (r) => get(r, 'server_timing', 'server_total_ms')],
    ['server inference (ms)', (r) => get(r, 'server_timing', 'inference_ms')],
    ['client-side overhead (ms)', (r) => get(r, 'server_timing', 'client_overhead_ms')],
    // Mean |IPDV| first: it is the stable figure; RFC 3550's estimate is smoothed over the last ~16 probes.
    ['jitter mean |IPDV| (ms)', (r) => get(r, 'jitter', 'rtt', 'mean_abs_ipdv_ms')],
    ['jitter RFC 3550 (ms, smoothed)', (r) => get(r, 'jitter', 'rtt', 'rfc3550_ms')],
    ['verdict', (r) => (r.verdict ? `${r.verdict.status}${r.verdict.reasons.length ? ': ' + r.verdict.reasons.join('; ') : ''}` : '—')],
  ];
  return rows.map(([label, f]) => [label, reports.map((r) => num(f(r)))]);
}

const signed = (x: number, d: number): string => {
  const a = Math.abs(x).toFixed(d);
  return (Number(a) === 0 ? '±' : x > 0 ? '+' : '−') + a;
};

/** Δ and ratio of each run against the first, with the noise judgement (report-compare.ts defines it). */
function changeTable(labels: string[], comparisons: Comparison[]): string {
  const head = ['run', 'figure', `baseline (${labels[0]})`, 'this run', 'Δ', 'ratio', 'noise band (± larger spread)', 'judgement'];
  const rows = comparisons.flatMap((c) =>
    c.changes.map((ch) => {
      const f = FIGURES.find((x) => x.key === ch.figure)!;
      const d = ch.figure === 'throughput' ? 1 : 3;
      const cls = ch.judgement === 'within noise' ? 'noise' : ch.judgement === 'beyond noise' ? 'change' : 'unknown';
      return `<tr><th>${esc(labels[c.run])}</th><th>${esc(f.label)} (${esc(f.unit)})</th><td>${num(ch.baseline, d)}</td><td>${num(ch.value, d)}</td>` +
        `<td>${ch.delta === undefined ? '—' : signed(ch.delta, d)}</td><td>${ch.ratio === undefined ? '—' : '×' + ch.ratio.toFixed(3)}</td>` +
        `<td>${ch.noise === undefined ? '—' : '±' + ch.noise.toFixed(d)}</td><td class="${cls}">${esc(ch.judgement)}</td></tr>`;
    }),
  );
  return `<table class="changes"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="note">Baseline: the first run. Δ = this run − baseline; ratio = this run / baseline. A run's spread is max − min of
its window values (p50, p99 and responses/s: each whole second of the run; jitter: each group of ${JITTER_WINDOW} consecutive probes);
a change is <i>within noise</i> when |Δ| ≤ the larger spread of the two runs.</p>`;
}

function table(headers: string[], rows: Array<[string, string[]]>): string {
  return `<table><thead><tr><th></th>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(([l, vs]) => `<tr><th>${esc(l)}</th>${vs.map((v) => `<td>${v}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export async function writeHtmlReport(runs: Array<{ report: RunReport; file: string }>, outDir: string): Promise<ReportFiles> {
  if (runs.length === 0) throw new Error('no runs to report');
  fs.mkdirSync(outDir, { recursive: true });
  const labels = runLabels(runs);
  const reports = runs.map((r) => r.report);
  const charts = chartsFor(runs);
  const pngs: string[] = [];
  const figures: string[] = [];
  for (const c of charts) {
    const svg = await renderSvg(c.spec);
    const png = path.join(outDir, `${c.id}.png`);
    fs.writeFileSync(png, await svgToPng(svg));
    pngs.push(png);
    figures.push(`<figure id="${esc(c.id)}">${svg.replace(/^<\?xml[^>]*>/, '')}<figcaption>${esc(c.title)} — <a href="${esc(c.id)}.png">PNG</a></figcaption></figure>`);
  }
  const sweeps = runs
    .map(({ report }, i) =>
      report.sweep
        ? `<h3>${esc(labels[i])}</h3>` +
          table(
            report.sweep.levels.map((l) => `c=${l.concurrency}`),
            [
              ['req/s', report.sweep.levels.map((l) => num(l.throughput_rps, 1))],
              ['images/s', report.sweep.levels.map((l) => num(l.images_per_s, 1))],
              ['p50 ms', report.sweep.levels.map((l) => num(l.p50_ms))],
              ['p99 ms', report.sweep.levels.map((l) => num(l.p99_ms))],
              ['errors', report.sweep.levels.map((l) => num(l.errors))],
            ],
          ) +
          (report.sweep.knee ? `<p>Knee: concurrency ${report.sweep.knee.concurrency} — ${esc(report.sweep.knee.reason)}</p>` : '')
        : '',
    )
    .join('');
  // A merged run (report --merge) keeps a row per agent.
  const agents = runs
    .map(({ report }, i) => {
      const m = report.merge;
      if (!m?.agents) return '';
      const col = (k: keyof MergedAgent, d?: number): string[] => m.agents.map((a) => (typeof a[k] === 'number' ? num(a[k], d) : esc(String(a[k] ?? '–'))));
      return (
        `<h3>${esc(labels[i])}</h3>` +
        table(m.agents.map((a, j) => `agent ${String(a.index ?? j)}`), [
          ['file', col('file')],
          ['offered /s', col('rate', 1)],
          ['ok', col('ok')],
          ['errors', col('errors')],
          ['req/s', col('throughput_rps', 1)],
          ['p50 ms', col('p50_ms')],
          ['p99 ms', col('p99_ms')],
          ['p99.9 ms', col('p99.9_ms')],
          ['started late ms', col('start_late_ms', 1)],
        ]) +
        `<p class="note">Merged: counts and percentiles over every agent's samples (exact); rates over the ${esc(String(m.common_window_s ?? '?'))} s every agent was measuring. ${esc(m.clock_skew?.text ?? '')}</p>`
      );
    })
    .join('');
  const details = runs
    .map(
      ({ report }, i) => `<details><summary>${esc(labels[i])}: settings, environment, status codes, warnings</summary>
<pre>${esc(JSON.stringify({ settings: report.settings, environment: report.environment, status_counts: report.status_counts, errors: report.errors, warnings: report.warnings, stability: report.stability ? { stable: report.stability.stable, judged: report.stability.judged, reason: report.stability.reason } : undefined }, null, 2))}</pre></details>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtinfer report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
thead th{background:#f4f4f4}tbody th{text-align:left;font-weight:normal;color:#555}
figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}pre{background:#f7f7f7;padding:1em;overflow:auto}
.FAIL{color:#b00}.PASS{color:#070}
.synthetic{color:#b00;font-weight:bold}.noise{color:#777}.change{font-weight:bold}.note{color:#555;font-size:90%}
</style></head><body>
<h1>rtinfer report</h1>
<p>${runs.length} run(s): ${labels.map(esc).join(', ')}. Latency figures are for successful requests; open-loop latency counts from the intended send time.</p>
${reports.map((r, i) => (r.verdict ? `<p class="${r.verdict.status}"><b>${esc(labels[i])}: ${r.verdict.status}</b> ${esc([...r.verdict.reasons, ...r.verdict.passed].join('; '))}</p>` : '')).join('\n')}
${reports.map((r, i) => (isSynthetic(r) ? `<p class="synthetic">${esc(labels[i])}: the server ran SYNTHETIC weights (seeded random): timings are real, predictions are meaningless.</p>` : '')).join('\n')}
<h2>Summary</h2>
${table(labels, comparisonRows(reports))}
${runs.length > 1 ? `<h2>Changes against the first run</h2>\n${changeTable(labels, compareRuns(reports))}` : ''}
${sweeps ? `<h2>Sweeps</h2>${sweeps}` : ''}
${agents ? `<h2>Agents</h2>${agents}` : ''}
<h2>Charts</h2>
${figures.join('\n')}
<h2>Details</h2>
${details}
</body></html>
`;
  const htmlPath = path.join(outDir, 'report.html');
  fs.writeFileSync(htmlPath, html);
  return { html: htmlPath, pngs };
}
