/** The `npm start` process: flags, env vars, exit codes and signals, as an operator sees them. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { connect, healthCheck, ping } from './helpers/grpc-client';

const MAIN = path.resolve(__dirname, '..', 'src', 'server', 'main.js');

interface Proc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  exit: Promise<number | null>;
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function startMain(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const lines: Array<Record<string, unknown>> = [];
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of d.toString().split('\n')) {
      try {
        if (l.startsWith('{')) lines.push(JSON.parse(l));
      } catch {
        // partial line or a non-JSON line from a dependency
      }
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => err,
    exit,
    async waitFor(msg, timeoutMs = 60_000) {
      const t0 = Date.now();
      for (;;) {
        const hit = lines.find((l) => l.msg === msg);
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before "${msg}":\n${err}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`no "${msg}" within ${timeoutMs} ms:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe('server main (npm start)', () => {
  const started: Proc[] = [];
  afterEach(() => {
    for (const p of started.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('exits 2 with the reason on a usage error', async () => {
    const p = startMain(['--max-batch', '0']);
    started.push(p);
    expect(await p.exit).to.equal(2);
    expect(p.stderr()).to.match(/--max-batch must be a whole number ≥ 1 \(got 0\)/);
  });

  it('exits 2 on a --compute-nice outside 0..19', async () => {
    for (const bad of ['20', '-1', '2.5']) {
      const p = startMain(['--compute-nice', bad]);
      started.push(p);
      expect(await p.exit, bad).to.equal(2);
      expect(p.stderr()).to.match(/--compute-nice must be a whole number 0–19/);
    }
  });

  it('exits 2 on a --heap-growing-percent outside 0..1000', async () => {
    for (const bad of ['1001', '-1', '2.5']) {
      const p = startMain(['--heap-growing-percent', bad]);
      started.push(p);
      expect(await p.exit, bad).to.equal(2);
      expect(p.stderr()).to.match(/--heap-growing-percent must be a whole number 0–1000/);
    }
  });

  it('exits 1 naming what to install when the requested backend is unavailable', async () => {
    const p = startMain(['--backend', 'tensorflow', '--port', '0']);
    started.push(p);
    expect(await p.exit).to.equal(1);
    const fail = p.lines.find((l) => l.msg === 'server failed to start');
    expect(String(fail?.error)).to.match(/@tensorflow\/tfjs-node/);
  });

  it('serves (port and host from INFER_PORT, INFER_HOST), and on SIGTERM drains and exits 0', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const p = startMain(['--model', model, '--normalize', 'signed', '--drain-delay-ms', '0'], { INFER_PORT: '0', INFER_HOST: '127.0.0.1' });
    started.push(p);
    const ready = await p.waitFor('ready');
    const port = Number(ready.port);
    expect(port).to.be.greaterThan(0);
    if (fs.existsSync(`/proc/${p.child.pid}/task`)) {
      // The event loop before the compute threads (decision 0028): every other thread 5 levels lower.
      expect(p.lines.find((l) => l.msg === 'compute threads run below the event loop')?.computeNice).to.equal(5);
      const pid = p.child.pid!;
      const others = fs.readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t !== pid);
      expect(others.length).to.be.greaterThan(2);
      const lowered = others.filter((t) => { try { return os.getPriority(t) === Math.min(19, os.getPriority(pid) + 5); } catch { return true; } });
      expect(lowered.length, 'threads at the main thread\'s nice + 5').to.equal(others.length);
    }
    expect(p.lines.find((l) => l.msg === 'heap growing factor set')?.heapGrowingPercent, 'decision 0029\'s default').to.equal(300);
    console.log(`      (npm start → ready in ${String(ready.startupMs)} ms)`);
    const c = connect(`127.0.0.1:${port}`);
    expect((await ping(c, { seq: 3n })).seq).to.equal(3n);
    expect(await healthCheck(`127.0.0.1:${port}`)).to.equal('SERVING');
    c.close();
    p.child.kill('SIGTERM');
    expect(await p.exit).to.equal(0);
    expect(p.lines.map((l) => l.msg)).to.include.members(['signal received: shutting down (send it again to exit at once)', 'stopped']);
  });

  it('a second signal exits at once (code 3) while shutdown is waiting (here: the drain delay)', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const p = startMain(['--model', model, '--normalize', 'signed', '--port', '0', '--drain-delay-ms', '60000']);
    started.push(p);
    const port = Number((await p.waitFor('ready')).port);
    p.child.kill('SIGTERM');
    await p.waitFor('shutting down: NOT_SERVING, still taking calls while load balancers notice');
    // During the drain delay health says NOT_SERVING and calls are still answered.
    expect(await healthCheck(`127.0.0.1:${port}`)).to.equal('NOT_SERVING');
    const c = connect(`127.0.0.1:${port}`);
    expect((await ping(c, { seq: 4n })).seq).to.equal(4n);
    c.close();
    const t0 = Date.now();
    p.child.kill('SIGINT');
    expect(await p.exit).to.equal(3);
    // At once, not at the end of the 60 s delay the first signal began (a generous bound on a busy machine).
    expect(Date.now() - t0).to.be.lessThan(30_000);
  });

  it('an idle health Watch does not hold shutdown: it gets NOT_SERVING and ends at once', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const p = startMain(['--model', model, '--normalize', 'signed', '--port', '0', '--drain-delay-ms', '0', '--grace-ms', '600000']);
    started.push(p);
    const port = Number((await p.waitFor('ready')).port);
    const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const watch = raw.makeServerStreamRequest('/grpc.health.v1.Health/Watch', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0));
    const updates: string[] = [];
    watch.on('data', (b: Buffer) => updates.push(b.toString('hex')));
    const ended = new Promise<grpc.StatusObject>((r) => watch.on('status', r));
    watch.on('error', () => undefined);
    await new Promise((r) => watch.once('data', r));
    p.child.kill('SIGTERM');
    // A 600 s grace: were the Watch holding shutdown, this test would time out instead.
    expect(await p.exit).to.equal(0);
    expect((await ended).code).to.equal(grpc.status.OK);
    expect(updates, 'SERVING (status 1), then NOT_SERVING (2)').to.deep.equal(['0801', '0802']);
    raw.close();
  });
});
