/**
 * The README's examples, run as written, so an example that breaks fails CI.
 *
 * Convention (README "Testing"): a ```sh block preceded by `<!-- test -->` runs; `<!-- test: "a", "b" -->`
 * also asserts that its output (stdout + stderr) contains each phrase. Every other ```sh block must be preceded
 * by `<!-- not tested: why -->` (it starts a server, needs Docker or grpcurl, or is a test suite itself), so a
 * new example cannot go untested by accident. HTML comments render as nothing on GitHub.
 *
 * Each marked block runs, in README order, as one `bash -eo pipefail` script from the project root, within
 * BLOCK_TIMEOUT_MS, against one real server (`node dist/src/server/main.js`, what `npm start` runs, with the
 * README's default model) that this test starts on an ephemeral port. The README talks to the default
 * port 8000, which another process may hold, so before running a block:
 * - `:8000` becomes `:<port>` (the buf curl URLs);
 * - `rtinfer ping|classify|bench|stream` and `node bin/rtinfer.js …` get `--target 127.0.0.1:<port>` right after
 *   the verb;
 * - `rtinfer` is a shell function for `node bin/rtinfer.js` (what `npm link` would put on PATH).
 * A real-time verdict (`stream`, `--budget-ms`) measures the machine, not the example: on a busy machine it
 * can FAIL (exit 4) with the example working as written, so that exit counts as a pass when the output has its
 * `verdict: FAIL` line (npm test asserts behaviour, not speed). Put such a command last in its block: bash -e
 * stops a block at its first non-zero exit.
 * Blocks that name a file under ../shared (the workspace's test data) skip with a printed reason when it is
 * absent, and fail under CI=true (helpers/fixtures.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { EXIT } from '../src/client/cli';
import { sharedFixture } from './helpers/fixtures';
import { startServerProcess, type ServerProcess } from './helpers/server-process';

const ROOT = path.resolve(__dirname, '..', '..');
const README = path.join(ROOT, 'README.md');
const BLOCK_TIMEOUT_MS = 90_000;
const DEFAULT_PORT = '8000';
const CLIENT_VERBS = 'ping|classify|bench|stream';

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** undefined = not tested (with `why`). */
  expect?: string[];
  why?: string;
}

const TEST_MARK = /^<!--\s*test(?::\s*(.*?))?\s*-->$/;
const SKIP_MARK = /^<!--\s*not tested:\s*(.+?)\s*-->$/;

/** Every ```sh / ```bash block with its marker; throws on a block without one (or a malformed marker). */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})(\w*)/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]) && l.trim() === fence[1]);
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code block`);
    if (fence[2] === 'sh' || fence[2] === 'bash') {
      const code = lines.slice(i + 1, end).join('\n');
      const marker = (lines[i - 1] ?? '').trim();
      const t = TEST_MARK.exec(marker);
      const s = SKIP_MARK.exec(marker);
      if (t) blocks.push({ line: i + 1, code, expect: t[1] ? parsePhrases(t[1], i + 1) : [] });
      else if (s) blocks.push({ line: i + 1, code, why: s[1] });
      else throw new Error(`README.md:${i + 1}: a shell block needs <!-- test --> or <!-- not tested: why --> on the line above`);
    }
    i = end;
  }
  return blocks;
}

function parsePhrases(list: string, line: number): string[] {
  const phrases = [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  if (phrases.length === 0) throw new Error(`README.md:${line - 1}: write phrases as <!-- test: "a", "b" -->`);
  return phrases;
}

/** The README's commands aimed at the test's server (see the header). */
export function retarget(code: string, port: number): string {
  return code
    .replace(new RegExp(`:${DEFAULT_PORT}\\b`, 'g'), `:${port}`)
    .replace(new RegExp(`\\b(rtinfer|bin/rtinfer\\.js) (${CLIENT_VERBS})\\b`, 'g'), `$1 $2 --target 127.0.0.1:${port}`);
}

const PREAMBLE = 'rtinfer() { node bin/rtinfer.js "$@"; }\n';

/**
 * A user's shell, not npm's: `npm test` and `npx mocha` put node_modules/.bin on PATH, where a bare `buf` (the
 * README's old mistake) would be found.
 */
export function userPath(p: string = process.env.PATH ?? ''): string {
  return p
    .split(path.delimiter)
    .filter((d) => !/node_modules[\\/]\.bin$/.test(d))
    .join(path.delimiter);
}

function runBash(script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Own process group, so a timeout stops the block's children too.
    const child = spawn('bash', ['-eo', 'pipefail', '-c', PREAMBLE + script], {
      cwd: ROOT,
      env: { ...process.env, PATH: userPath() },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n[readme test: killed after ${BLOCK_TIMEOUT_MS} ms]`;
      process.kill(-child.pid!, 'SIGKILL');
    }, BLOCK_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('README examples run as written', function () {
  this.timeout(BLOCK_TIMEOUT_MS + 30_000);
  // A marking mistake fails the first test below with its README line, rather than the whole file's loading.
  let blocks: ReadmeBlock[] = [];
  let markingError: Error | undefined;
  try {
    blocks = readmeBlocks(fs.readFileSync(README, 'utf8'));
  } catch (e) {
    markingError = e as Error;
  }
  let server: ServerProcess | undefined;

  before(async function () {
    this.timeout(180_000);
    // The README's default server (`npm start`: GoogLeNet, synthetic weights, backend auto), on a free port.
    server = await startServerProcess([]);
  });
  after(async () => {
    await server?.stop();
  });

  it('marks every shell block, and the marked ones cover the quick start, reflection and client examples', () => {
    if (markingError) throw markingError;
    const tested = blocks.filter((b) => b.expect);
    expect(tested.length).to.be.at.least(8);
    const all = tested.map((b) => b.code).join('\n');
    for (const needle of ['bin/rtinfer.js ping', 'npx buf curl', 'rtinfer report', 'rtinfer local bench']) expect(all).to.include(needle);
    // Not-tested blocks are only the kinds the convention allows.
    for (const b of blocks.filter((x) => !x.expect)) expect(b.code, `README.md:${b.line}`).to.match(/npm (install|start|test|run test|run lab)|grpcurl|docker|mocha/);
  });

  it('aims the commands at the test server', () => {
    expect(retarget('node bin/rtinfer.js ping --count 3 && rtinfer report out/r.json', 4321)).to.equal(
      'node bin/rtinfer.js ping --target 127.0.0.1:4321 --count 3 && rtinfer report out/r.json',
    );
    expect(retarget('buf curl http://127.0.0.1:8000/x; rtinfer local bench', 4321)).to.equal('buf curl http://127.0.0.1:4321/x; rtinfer local bench');
  });

  for (const b of blocks.filter((x) => x.expect)) {
    const first = b.code.split('\n')[0];
    it(`README.md:${b.line}: ${first.length > 70 ? `${first.slice(0, 70)}…` : first}`, async function () {
      for (const m of b.code.matchAll(/\.\.\/shared\/([\w./-]+)/g)) sharedFixture(this, m[1]);
      const r = await runBash(retarget(b.code, server!.port));
      const where = `README.md:${b.line} (exit ${r.code ?? r.signal}):\n${r.output.slice(-3000)}`;
      if (r.code === EXIT.VERDICT_FAIL && /^verdict: FAIL/m.test(r.output)) console.log(`      (README.md:${b.line}: verdict FAIL on this machine; the example itself ran)`);
      else expect(r.code, where).to.equal(0);
      for (const phrase of b.expect!) expect(r.output, where).to.include(phrase);
    });
  }
});
