import * as fs from 'node:fs';
import * as path from 'node:path';

/** ../shared beside the project root: test data that is read at run time and never copied in. */
export const SHARED_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'shared');

/**
 * Path of a file under ../shared, or skips the calling test (printing why) when it is absent.
 * Under CI (CI=true) a missing fixture is a failure, not a skip: CI always has ../shared.
 */
export function sharedFixture(ctx: Mocha.Context, relative: string): string {
  const p = path.join(SHARED_DIR, relative);
  if (fs.existsSync(p)) return p;
  const reason = `fixture ${relative} not found at ${p} (a fresh clone has no ../shared)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must have it`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
  throw new Error('unreachable');
}

export const MOBILENET_DIR = 'models/mobilenet_v1_0.25_224';
export const MOBILENET_JSON = `${MOBILENET_DIR}/model.json`;
