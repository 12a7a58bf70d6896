/**
 * The real-time verdict: can this path carry the workload? PASS only when every requested check holds;
 * each failed check gives a reason a person can act on, e.g. "p99 142 ms > 100 ms budget".
 * Checks (each only when its target is given):
 * - latency: the chosen percentile (default p99) of successful requests ≤ budget;
 * - rate: achieved images/s ≥ 98 % of the target fps (2 % slack for the partial first and last frame
 *   interval of a short run; the figure itself is printed unrounded);
 * - errors: no failed request or frame;
 * - drops: no frame dropped because the in-flight window was full (stream).
 */

export interface VerdictInput {
  budgetMs?: number;
  fps?: number;
  /** Percentile the budget applies to. Default 99. */
  percentile?: number;
  latencyAtPercentileMs: number;
  achievedFps: number;
  total: number;
  errors: number;
  dropped?: number;
  /** Frames/requests whose latency exceeded the budget (reported, and fails only via the percentile). */
  late?: number;
}

export interface Verdict {
  status: 'PASS' | 'FAIL';
  reasons: string[];
  /** Passed checks in words, for the report. */
  passed: string[];
}

const FPS_SLACK = 0.98;

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Undefined when no budget and no fps were asked for. */
export function verdict(i: VerdictInput): Verdict | undefined {
  if (i.budgetMs === undefined && i.fps === undefined) return undefined;
  const p = i.percentile ?? 99;
  const reasons: string[] = [];
  const passed: string[] = [];
  if (i.budgetMs !== undefined) {
    const line = `p${p} ${fmt(i.latencyAtPercentileMs)} ms ${i.latencyAtPercentileMs > i.budgetMs ? '>' : '≤'} ${fmt(i.budgetMs)} ms budget`;
    (i.latencyAtPercentileMs > i.budgetMs ? reasons : passed).push(i.late ? `${line} (${i.late} over budget)` : line);
  }
  if (i.fps !== undefined) {
    const ok = i.achievedFps >= i.fps * FPS_SLACK;
    (ok ? passed : reasons).push(`achieved ${fmt(i.achievedFps)} fps ${ok ? '≥' : '<'} ${fmt(i.fps)} fps target`);
  }
  if (i.errors > 0) reasons.push(`${i.errors} of ${i.total} failed`);
  else passed.push(`no errors in ${i.total}`);
  if (i.dropped !== undefined) {
    if (i.dropped > 0) reasons.push(`${i.dropped} frames dropped (in-flight window full)`);
    else passed.push('no dropped frames');
  }
  if (i.total === 0) reasons.push('nothing completed');
  return { status: reasons.length === 0 ? 'PASS' : 'FAIL', reasons, passed };
}
