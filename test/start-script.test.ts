/**
 * `npm start` (scripts/start.js) runs the built server without compiling, and says plainly when dist/ is
 * missing or older than the sources, instead of a module-not-found trace or yesterday's code running.
 * Each case runs a copy of the script in a scratch project, so the real dist/ and src/ are never touched.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { suiteTempDir } from './helpers/temp-dir';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'start.js');

const tmp = suiteTempDir('start-script-');

function project(): string {
  const dir = fs.mkdtempSync(path.join(tmp.path, 'p-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(SCRIPT, path.join(dir, 'scripts', 'start.js'));
  fs.mkdirSync(path.join(dir, 'src', 'server'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'server', 'main.ts'), '');
  return dir;
}

/** The built entry: exports main(argv) as dist/src/server/main.js does. */
function build(dir: string, at: Date): void {
  const entry = path.join(dir, 'dist', 'src', 'server', 'main.js');
  fs.mkdirSync(path.dirname(entry), { recursive: true });
  fs.writeFileSync(entry, "exports.main = async (argv) => { console.log('started with ' + argv.join(' ')); };\n");
  fs.writeFileSync(path.join(dir, 'dist', '.built'), '');
  fs.utimesSync(path.join(dir, 'dist', '.built'), at, at);
}

function start(dir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'start.js'), ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm start (scripts/start.js)', () => {
  it('not built: exits 1 saying so and naming npm run build', () => {
    const r = start(project());
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/not built.*\n.*npm run build/);
  });

  it('sources newer than the build: exits 1 naming the changed file and npm run build', () => {
    const dir = project();
    build(dir, new Date(Date.now() - 60_000));
    const r = start(dir);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('dist/ is older than the sources (src/server/main.ts changed since the last build)');
    expect(r.stderr).to.include('npm run build');
  });

  it('built after the last source change: runs the built server with the flags', () => {
    const dir = project();
    fs.utimesSync(path.join(dir, 'src', 'server', 'main.ts'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    build(dir, new Date());
    const r = start(dir, '--port', '0');
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.equal('started with --port 0\n');
  });
});
