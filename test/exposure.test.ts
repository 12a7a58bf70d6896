/**
 * A server reachable beyond loopback with no authentication says so, loudly, at start-up; on loopback, or
 * with tokens, it does not.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { startServerProcess } from './helpers/server-process';
import { suiteTempDir } from './helpers/temp-dir';

const exposed = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> => lines.filter((l) => String(l.msg).startsWith('EXPOSED:'));

describe('start-up warning when exposed without auth', function () {
  const dir = suiteTempDir('exposure-');

  it('bound to every address (the default ::) with no tokens: a warning naming the fixes', async function () {
    const p = await startServerProcess(['--model', sharedFixture(this, MOBILENET_JSON), '--normalize', 'signed', '--host', '::']);
    try {
      const w = exposed(p.lines);
      expect(w).to.have.length(1);
      expect(w[0].level).to.equal('warn');
      expect(String(w[0].msg)).to.match(/with NO authentication and NO TLS: anyone who can reach this port/);
      expect(String(w[0].msg)).to.match(/--tokens-file/);
    } finally {
      await p.stop();
    }
  });

  it('on loopback, or with tokens, no warning', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const file = path.join(dir.path, 'tokens.txt');
    fs.writeFileSync(file, 't0ken\n');
    for (const args of [['--host', '127.0.0.1'], ['--host', '::', '--tokens-file', file]]) {
      const p = await startServerProcess(['--model', model, '--normalize', 'signed', ...args]);
      try {
        expect(exposed(p.lines), args.join(' ')).to.have.length(0);
      } finally {
        await p.stop();
      }
    }
  });
});
