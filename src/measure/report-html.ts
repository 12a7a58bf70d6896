/**
 * `report RUN.json …` → one self-contained HTML file (inline SVG charts, inline CSS, no scripts, no
 * network) plus one PNG per chart, for pasting into tickets and docs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chartsFor, renderSvg, runLabels, svgToPng } from './charts';
import type { RunReport } from './report-json';

export interface ReportFiles {
  html: string;
  pngs: string[];
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function num(x: unknown, digits = 3): string {
  return typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(digits)) : x === undefined ? '—' : esc(x);
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
    ['requests OK / errors', (r) => `${num(get(r, 'ok') ?? get(r, 'received'))} / ${num(get(r, 'errors') ?? get(r, 'lost'))}`],
    ['duration (s)', (r) => get(r, 'duration_s')],
    ['throughput (req/s)', (r) => get(r, 'throughput_rps')],
    ['images/s', (r) => get(r, 'images_per_s') ?? get(r, 'achieved_fps')],
    ['MB/s up / down', (r) => `${num(get(r, 'mb_per_s_up'))} / ${num(get(r, 'mb_per_s_down'))}`],
    ['latency min (ms)', (r) => lat(r)?.min_ms],
    ['latency mean (ms)', (r) => lat(r)?.mean_ms],
    ...(['p50', 'p90', 'p99', 'p99.9'].map((k) => [`latency ${k} (ms)`, (r: RunReport) => pct(r, k)]) as Array<[string, (r: RunReport) => unknown]>),
    ['latency max (ms)', (r) => lat(r)?.max_ms],
    ['server total (ms)', (r) => get(r, 'server_timing', 'server_total_ms')],
    ['server inference (ms)', (r) => get(r, 'server_timing', 'inference_ms')],
    ['client-side overhead (ms)', (r) => get(r, 'server_timing', 'client_overhead_ms')],
    ['jitter RFC 3550 (ms)', (r) => get(r, 'jitter', 'rtt', 'rfc3550_ms')],
    ['verdict', (r) => (r.verdict ? `${r.verdict.status}${r.verdict.reasons.length ? ': ' + r.verdict.reasons.join('; ') : ''}` : '—')],
  ];
  return rows.map(([label, f]) => [label, reports.map((r) => num(f(r)))]);
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
  const details = runs
    .map(
      ({ report }, i) => `<details><summary>${esc(labels[i])}: settings, environment, status codes, warnings</summary>
<pre>${esc(JSON.stringify({ settings: report.settings, environment: report.environment, status_counts: report.status_counts, errors: report.errors, warnings: report.warnings, stability: report.stability ? { stable: report.stability.stable, reason: report.stability.reason } : undefined }, null, 2))}</pre></details>`,
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
</style></head><body>
<h1>rtinfer report</h1>
<p>${runs.length} run(s): ${labels.map(esc).join(', ')}. Latency figures are for successful requests; open-loop latency counts from the intended send time.</p>
${reports.map((r, i) => (r.verdict ? `<p class="${r.verdict.status}"><b>${esc(labels[i])}: ${r.verdict.status}</b> ${esc([...r.verdict.reasons, ...r.verdict.passed].join('; '))}</p>` : '')).join('\n')}
<h2>Summary</h2>
${table(labels, comparisonRows(reports))}
${sweeps ? `<h2>Sweeps</h2>${sweeps}` : ''}
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
