/**
 * Turns a load run into report sections — shared by remote bench/stream and local bench, so every mode
 * computes its figures the same way (load-printer.ts words them).
 */
import { percentileMs } from './histogram';
import type { LoadResult } from './load-run';
import { attachLoad, loadSummary, type LoadSummary, type RunReport } from './report-doc';
import { assessStability, chooseWindowSeconds, selfCheck, windowsOf } from './stability';
import { verdict } from './verdict';

export interface VerdictTargets {
  budgetMs?: number;
  fps?: number;
  percentile?: number;
}

/** How the run was driven, for the self-checks. */
export interface LoadContext {
  /** Open loop: the rate the schedule offered, per second (requests, or frames for a stream). */
  offeredRate?: number;
  /** "req/s" (default) or "fps". */
  rateUnit?: string;
  /** In-process (local mode): no separate client whose busyness could distort the figures. */
  inProcess?: boolean;
}

/** Fills summary, histogram, series, stability, warnings and verdict of `rep` from `r`. */
export function fillLoadReport(rep: RunReport, r: LoadResult, t: VerdictTargets, extra: Record<string, unknown> = {}, ctx: LoadContext = {}): LoadSummary {
  const s = loadSummary(r);
  const late = t.budgetMs !== undefined ? countOver(r, t.budgetMs) : undefined;
  rep.summary = { ...s, ...(r.dropped > 0 || extra.fps_target !== undefined ? { dropped: r.dropped } : {}), ...(late !== undefined ? { over_budget: late } : {}), ...extra };
  attachLoad(rep, r);
  // Only whole seconds inside the measurement: a trailing partial second would look like a throughput drop.
  const whole = r.series.slice(0, Math.floor(r.elapsedNs / 1e9));
  const w = chooseWindowSeconds(whole);
  rep.stability = assessStability(windowsOf(whole, w), w);
  rep.warnings.push(
    ...selfCheck({
      clientBusy: ctx.inProcess ? undefined : r.clientBusy,
      scheduled: r.mode === 'open' ? r.scheduled - r.dropped : 0,
      sentLate: r.sentLate,
      maxSendLateMs: r.maxSendLateNs / 1e6,
      offeredRate: r.mode === 'open' ? ctx.offeredRate : undefined,
      // Frames: images/s, the very figure the verdict's fps check uses; requests: OK responses/s.
      achievedRate: ctx.rateUnit === 'fps' ? s.images_per_s : s.throughput_rps,
      rateUnit: ctx.rateUnit,
      inProcess: ctx.inProcess,
    }),
  );
  if (rep.stability.judged && !rep.stability.stable) rep.warnings.push(`not steady: ${rep.stability.reason}`);
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

/** Frames offered at `fps` with `window` in flight (rtinfer stream, and the browser page's run). */
export interface StreamTargets extends VerdictTargets {
  fps: number;
  window: number;
}

/**
 * rtinfer stream's report: fillLoadReport with the stream's fields (fps_target, achieved_fps, window,
 * dropped); `extra` adds summary fields (rtinfer: the per-hop path).
 */
export function fillStreamReport(rep: RunReport, r: LoadResult, t: StreamTargets, extra: Record<string, unknown> = {}): LoadSummary {
  const achieved = r.elapsedNs > 0 ? r.images / (r.elapsedNs / 1e9) : 0;
  return fillLoadReport(rep, r, { budgetMs: t.budgetMs, fps: t.fps, percentile: t.percentile }, { fps_target: t.fps, achieved_fps: achieved, window: t.window, ...extra }, { offeredRate: t.fps, rateUnit: 'fps' });
}
