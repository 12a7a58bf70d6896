import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const BUF = path.join(ROOT, 'node_modules', '.bin', 'buf');

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p)];
  });
}

describe('generated code (src/gen)', function () {
  it('is what `npm run generate` makes from proto/ (regenerate and commit when this fails)', function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-'));
    try {
      const env = { ...process.env, PATH: `${path.dirname(BUF)}${path.delimiter}${process.env.PATH}` };
      execFileSync(BUF, ['generate', '-o', out], { cwd: ROOT, env, stdio: 'pipe' });
      execFileSync(BUF, ['build', '-o', path.join(out, 'src/gen/inference.binpb')], { cwd: ROOT, env, stdio: 'pipe' });
      const fresh = path.join(out, 'src', 'gen');
      const committed = path.join(ROOT, 'src', 'gen');
      expect(listFiles(committed).sort()).to.deep.equal(listFiles(fresh).sort());
      for (const f of listFiles(fresh)) {
        const same = fs.readFileSync(path.join(fresh, f)).equals(fs.readFileSync(path.join(committed, f)));
        expect(same, `src/gen/${f} is stale: run npm run generate`).to.equal(true);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('passes buf lint', function () {
    execFileSync(BUF, ['lint'], { cwd: ROOT, stdio: 'pipe' });
  });
});
