/**
 * Usage checks of the numeric flags, one rule a flag. yargs turns `--count abc` into NaN and accepts
 * `--count -1`; left alone, either ran and printed "0 probes sent" as if the server had failed. A bad
 * value is the user's mistake, so it is a usage error (exit 2) naming the flag and what it takes.
 */
export class UsageError extends Error {}

export type NumberRule =
  /** a count that may be zero (probes to discard, bytes of padding) */
  | 'count>=0'
  /** a count of at least one (probes, requests, connections, frames in flight) */
  | 'count>=1'
  /** a positive quantity (seconds, rates, milliseconds) */
  | '>0'
  /** a quantity that may be zero (warm-up seconds; a deadline of 0 means none) */
  | '>=0'
  /** a percentile: above 0, at most 100 */
  | 'percentile';

const RULES: Record<NumberRule, { ok: (v: number) => boolean; says: string }> = {
  'count>=0': { ok: (v) => Number.isInteger(v) && v >= 0, says: 'a whole number ≥ 0' },
  'count>=1': { ok: (v) => Number.isInteger(v) && v >= 1, says: 'a whole number ≥ 1' },
  '>0': { ok: (v) => Number.isFinite(v) && v > 0, says: 'a number > 0' },
  '>=0': { ok: (v) => Number.isFinite(v) && v >= 0, says: 'a number ≥ 0' },
  percentile: { ok: (v) => Number.isFinite(v) && v > 0 && v <= 100, says: 'a percentile in (0, 100]' },
};

/** What the user typed for `--flag` (so "abc" is echoed, not NaN), or the parsed value. */
function typed(argv: readonly string[], flag: string, parsed: unknown): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${flag}` && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`--${flag}=`)) return argv[i].slice(flag.length + 3);
  }
  return String(parsed);
}

/** Throws a UsageError for the first flag whose value breaks its rule; absent flags pass. */
export function checkNumbers(a: Record<string, unknown>, rules: Record<string, NumberRule>, argv: readonly string[]): void {
  for (const [flag, rule] of Object.entries(rules)) {
    const v = a[flag];
    if (v === undefined) continue;
    const r = RULES[rule];
    // yargs makes a repeated flag an array: one value a flag.
    if (typeof v !== 'number' || !r.ok(v)) throw new UsageError(`--${flag} must be ${r.says} (got ${Array.isArray(v) ? v.join(', ') : typed(argv, flag, v)})`);
  }
}

/** The numeric flags every networked verb shares (connectionOptions in cli.ts). */
export const CONNECTION_NUMBERS: Record<string, NumberRule> = { 'deadline-ms': '>=0', connections: 'count>=1' };
export const VERDICT_NUMBERS: Record<string, NumberRule> = { 'budget-ms': '>0', percentile: 'percentile' };
