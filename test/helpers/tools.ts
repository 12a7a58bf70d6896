import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Whether `cmd` runs (`cmd args` exits 0). */
export function toolRuns(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

export function fileExists(p: string): boolean {
  return fs.existsSync(p);
}

/**
 * Skips the calling test or suite (printing why) when a Debian tool or file is missing; under CI=true
 * (where .ci/run installs it) a missing tool is a failure instead.
 */
export function requireTool(ctx: Mocha.Context, ok: boolean, reason: string): void {
  if (ok) return;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must have it (.ci/run installs it)`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
