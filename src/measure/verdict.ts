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

export function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export interface RateComparison {
  met: boolean;
  /** e.g. "achieved 10.1 fps ≥ 10.0 fps target", "achieved 9.90 fps, within 2 % of the 10.0 fps target". */
  text: string;
}

/**
 * Whether an achieved rate meets its target, in words. The verdict and the late-send self-check both word
 * the rate through this, so the two lines can never disagree about it.
 */
export function compareRate(achieved: number, target: number, unit: string): RateComparison {
  const met = achieved >= target * FPS_SLACK;
  const a = `achieved ${fmt(achieved)} ${unit}`;
  const t = `${fmt(target)} ${unit} target`;
  if (!met) return { met, text: `${a} < ${t}` };
  return { met, text: achieved >= target ? `${a} ≥ ${t}` : `${a}, within ${Math.round((1 - FPS_SLACK) * 100)} % of the ${t}` };
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
    const r = compareRate(i.achievedFps, i.fps, 'fps');
    (r.met ? passed : reasons).push(r.text);
  }
  if (i.errors > 0) reasons.push(`${i.errors} of ${i.total} failed`);
  else passed.push(`no errors in ${i.total}`);
  if (i.dropped !== undefined) {
    if (i.dropped > 0) reasons.push(`${i.dropped} frame${i.dropped === 1 ? '' : 's'} dropped (in-flight window full)`);
    else passed.push('no dropped frames');
  }
  if (i.total === 0) reasons.push('nothing completed');
  return { status: reasons.length === 0 ? 'PASS' : 'FAIL', reasons, passed };
}
