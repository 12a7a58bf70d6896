import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A fresh directory under the OS temp dir for the calling suite: made by a before hook, removed with all it
 * holds by an after hook. `path` is set once the before hook has run.
 */
export function suiteTempDir(prefix: string): { path: string } {
  const dir = { path: '' };
  before(() => {
    dir.path = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  after(() => {
    if (dir.path) fs.rmSync(dir.path, { recursive: true, force: true });
  });
  return dir;
}
