/**
 * Tokens are rotated or revoked without a restart: SIGHUP makes the real server (`main.js`) re-read
 * --tokens-file; a file that cannot be used (empty) keeps the previous tokens rather than turning auth off.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { connect, type Client } from './helpers/grpc-client';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { startServerProcess, type ServerProcess } from './helpers/server-process';
import { suiteTempDir } from './helpers/temp-dir';

function pingWith(c: Client, token: string): Promise<number> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const req = { seq: 1n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n };
  return new Promise((resolve) => c.ping(req, md, (err) => resolve(err ? err.code : grpc.status.OK)));
}

async function waitForLog(p: ServerProcess, msg: string, after: number): Promise<void> {
  const t0 = Date.now();
  while (p.lines.slice(after).every((l) => l.msg !== msg)) {
    if (Date.now() - t0 > 30_000) throw new Error(`no "${msg}" log line:\n${p.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('tokens reloaded on SIGHUP (rotate or revoke without a restart)', function () {
  const dir = suiteTempDir('token-reload-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop();
  });

  it('SIGHUP swaps the tokens at once; an empty file keeps the old ones', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const file = path.join(dir.path, 'tokens.txt');
    fs.writeFileSync(file, 'old-token\n');
    server = await startServerProcess(['--model', model, '--normalize', 'signed', '--tokens-file', file]);
    const c = connect(`127.0.0.1:${server.port}`);
    try {
      expect(await pingWith(c, 'old-token')).to.equal(grpc.status.OK);
      expect(await pingWith(c, 'new-token')).to.equal(grpc.status.UNAUTHENTICATED);

      fs.writeFileSync(file, 'new-token\n');
      let mark = server.lines.length;
      server.child.kill('SIGHUP');
      await waitForLog(server, 'tokens reloaded', mark);
      expect(await pingWith(c, 'old-token'), 'revoked').to.equal(grpc.status.UNAUTHENTICATED);
      expect(await pingWith(c, 'new-token')).to.equal(grpc.status.OK);

      fs.writeFileSync(file, '# nothing here\n');
      mark = server.lines.length;
      server.child.kill('SIGHUP');
      await waitForLog(server, 'tokens not reloaded; the previous tokens stay in force', mark);
      expect(await pingWith(c, 'new-token'), 'auth still on, with the previous tokens').to.equal(grpc.status.OK);
      expect(await pingWith(c, 'anything'), 'and still refusing others').to.equal(grpc.status.UNAUTHENTICATED);
    } finally {
      c.close();
    }
  });
});
