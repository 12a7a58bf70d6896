/**
 * Turns a load run into report sections and printed text — shared by remote bench/stream and local
 * bench, so every mode computes and words its figures the same way.
 */
import { percentileMs } from './histogram';
import type { LoadResult } from './load-phase';
import { attachLoad, loadSummary, LoadSummary, RunReport } from './report-json';
import { assessStability, chooseWindowSeconds, selfCheck, windowsOf } from './stability';
import { verdict } from './verdict';

export interface VerdictTargets {
  budgetMs?: number;
  fps?: number;
  percentile?: number;
}

/** Fills summary, histogram, series, stability, warnings and verdict of `rep` from `r`. */
export function fillLoadReport(rep: RunReport, r: LoadResult, t: VerdictTargets, extra: Record<string, unknown> = {}): LoadSummary {
  const s = loadSummary(r);
  const late = t.budgetMs !== undefined ? countOver(r, t.budgetMs) : undefined;
  rep.summary = { ...s, ...(r.dropped > 0 || extra.fps_target !== undefined ? { dropped: r.dropped } : {}), ...(late !== undefined ? { over_budget: late } : {}), ...extra };
  attachLoad(rep, r);
  // Only whole seconds inside the measurement: a trailing partial second would look like a throughput drop.
  const whole = r.series.slice(0, Math.floor(r.elapsedNs / 1e9));
  const w = chooseWindowSeconds(whole);
  rep.stability = assessStability(windowsOf(whole, w), w);
  rep.warnings.push(...selfCheck({ clientBusy: r.clientBusy, scheduled: r.mode === 'open' ? r.scheduled - r.dropped : 0, sentLate: r.sentLate }));
  if (!rep.stability.stable) rep.warnings.push(`not stable: ${rep.stability.reason}`);
  if (r.unfinished > 0) rep.warnings.push(`${r.unfinished} requests still unfinished when the run ended (${r.endReason})`);
  const v = verdict({
    budgetMs: t.budgetMs,
    fps: t.fps,
    percentile: t.percentile,
    latencyAtPercentileMs: percentileMs(r.latency, t.percentile ?? 99),
    achievedFps: s.images_per_s,
    total: r.completed + r.unfinished,
    errors: r.errors + r.unfinished,
    dropped: extra.fps_target !== undefined ? r.dropped : undefined,
    late,
  });
  if (v) rep.verdict = v;
  return s;
}

/** Successful requests slower than the budget (from the histogram: exact to its 0.1 % resolution). */
function countOver(r: LoadResult, budgetMs: number): number {
  const h = r.latency.hdr;
  if (h.totalCount === 0) return 0;
  let below = 0;
  // Percentile search: find the share ≤ budget by bisection on the percentile axis.
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (h.getValueAtPercentile(mid) / 1000 <= budgetMs) lo = mid;
    else hi = mid;
  }
  below = Math.round((lo / 100) * h.totalCount);
  return h.totalCount - below;
}

const f = (x: number, d = 3): string => x.toFixed(d);

export function loadSummaryText(rep: RunReport): string {
  const s = rep.summary as unknown as LoadSummary & { dropped?: number; over_budget?: number; fps_target?: number };
  const l: string[] = [];
  const p = s.latency.percentiles_ms;
  l.push(`${s.mode === 'open' ? 'open loop' : 'closed loop'}: ${s.ok} OK, ${s.errors} errors${s.unfinished ? `, ${s.unfinished} unfinished` : ''}${s.dropped !== undefined ? `, ${s.dropped} dropped` : ''} in ${f(s.duration_s, 2)} s (${s.warmup_requests} warm-up not counted; ended by ${s.end_reason})`);
  l.push(`throughput: ${f(s.throughput_rps, 1)} req/s, ${f(s.images_per_s, 1)} images/s, up ${f(s.mb_per_s_up)} MB/s, down ${f(s.mb_per_s_down)} MB/s`);
  l.push(`latency${s.mode === 'open' ? ' (from intended send time)' : ''}: min ${f(s.latency.min_ms)} mean ${f(s.latency.mean_ms)} p50 ${f(p.p50)} p90 ${f(p.p90)} p95 ${f(p.p95)} p99 ${f(p.p99)} p99.9 ${f(p['p99.9'])} max ${f(s.latency.max_ms)} ms (stddev ${f(s.latency.stddev_ms)})`);
  if (s.mode === 'open') l.push(`service time (from actual send): p50 ${f(s.service_latency.percentiles_ms.p50)} p99 ${f(s.service_latency.percentiles_ms.p99)} ms`);
  const t = s.server_timing;
  if (t.count > 0) {
    l.push(`server (mean of ${t.count}): queue ${f(t.queue_ms)} decode ${f(t.decode_ms)} preprocess ${f(t.preprocess_ms)} inference ${f(t.inference_ms)} postprocess ${f(t.postprocess_ms)} other ${f(t.server_other_ms)} = total ${f(t.server_total_ms)} ms; batch ${f(t.mean_batch_size, 2)}`);
    l.push(`client-side overhead (e2e − server total): ${f(t.client_overhead_ms)} ms`);
  }
  if (s.over_budget !== undefined) l.push(`over budget: ${s.over_budget} of ${s.ok}`);
  l.push(`status: ${Object.entries(rep.status_counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  for (const e of rep.errors.slice(0, 5)) l.push(`  error ×${e.count}: ${e.message}`);
  if (rep.stability) l.push(`stability: ${rep.stability.stable ? 'stable' : 'NOT stable'} — ${rep.stability.reason}`);
  for (const w of rep.warnings) if (!w.startsWith('not stable')) l.push(`warning: ${w}`);
  if (rep.verdict) l.push(`verdict: ${rep.verdict.status}${rep.verdict.reasons.length ? ' — ' + rep.verdict.reasons.join('; ') : ''}${rep.verdict.passed.length ? ` (ok: ${rep.verdict.passed.join('; ')})` : ''}`);
  return l.join('\n');
}
