/**
 * The impairment proxy (src/lab/impair-proxy.ts) does what the fidelity suite relies on: it forwards
 * bytes unchanged, never releases them before the asked delay or link rate allows, records what it held,
 * drops connections when told, and closes cleanly — in-process, forked over IPC, and from its command line.
 * Only lower bounds on time here: how exactly it hits a delay is `npm run test:fidelity`'s job
 * (test/fidelity/impair-proxy.fidelity.ts), because a shared CI machine can always be late.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { expect } from 'chai';
import { echoServer } from './helpers/echo-server';
import { forkImpairProxy, startImpairProxy, type ImpairProxy } from '../src/lab/impair-proxy';
import { parseProxyArgs } from '../src/lab/impair-proxy-cli';
import { samplesMs } from '../src/lab/impair-stats';
import type { LoopbackServer } from './helpers/loopback-server';

function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `data` and resolves with everything echoed back (once as many bytes arrived) and the ms it took. */
async function echoThrough(port: number, data: Buffer): Promise<{ got: Buffer; ms: number }> {
  const s = await connectTo(port);
  try {
    const parts: Buffer[] = [];
    let n = 0;
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        parts.push(d);
        n += d.length;
        if (n >= data.length) resolve();
      });
      s.once('error', reject);
      s.once('close', () => reject(new Error(`closed after ${n} of ${data.length} bytes`)));
      s.write(data);
    });
    return { got: Buffer.concat(parts), ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  } finally {
    s.destroy();
  }
}

/** Bytes that differ from position to position, so a reordered or corrupted stream cannot pass for equal. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

describe('impair proxy: behaviour the fidelity suite relies on (no upper time bounds)', function () {
  this.timeout(30_000);
  let echo: LoopbackServer;
  let proxy: ImpairProxy;
  before(async () => {
    echo = await echoServer();
    proxy = await startImpairProxy({ target: { host: '127.0.0.1', port: echo.port } });
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
  });

  it('forwards every byte in order, with nothing injected and with a delay', async () => {
    const data = pattern(300_000);
    proxy.configure({ up: {}, down: {} });
    expect((await echoThrough(proxy.port, data)).got.equals(data), 'no impairment').to.equal(true);
    proxy.configure({ up: { delayMs: 2, jitterMs: 1, jitterDistribution: 'uniform' }, down: { delayMs: 1 } });
    expect((await echoThrough(proxy.port, data)).got.equals(data), 'delay and jitter never reorder a byte stream').to.equal(true);
    proxy.configure({ up: {}, down: {} });
  });

  it('holds each chunk at least the asked delay and records what it held', async () => {
    proxy.configure({ up: { delayMs: 20 }, down: { delayMs: 30 } });
    proxy.resetStats();
    const { ms } = await echoThrough(proxy.port, pattern(100));
    const st = proxy.stats();
    proxy.configure({ up: {}, down: {} });
    expect(ms, 'echo round trip through 20 ms up and 30 ms down').to.be.at.least(50);
    for (const [name, d, delay] of [['up', st.up, 20], ['down', st.down, 30]] as const) {
      expect(d.bytes, `${name} bytes`).to.equal(100);
      expect(d.heldNs.count, `${name}: one hold time per delayed chunk`).to.equal(d.chunks);
      expect(Math.min(...samplesMs(d.heldNs)), `${name}: never released early`).to.be.at.least(delay);
      expect(Math.min(...samplesMs(d.lateNs)), `${name}: lateness is measured from the due time`).to.be.at.least(0);
    }
  });

  it('limits bandwidth: 200 kB through a 2 MB/s link cannot arrive in less than 100 ms', async () => {
    proxy.configure({ up: { bandwidthBytesPerS: 2_000_000 }, down: {} });
    const data = pattern(200_000);
    const { got, ms } = await echoThrough(proxy.port, data);
    proxy.configure({ up: {}, down: {} });
    expect(got.equals(data)).to.equal(true);
    expect(ms).to.be.at.least(100);
  });

  it('drops: after N bytes the connection is reset, and only maxDrops connections are killed', async () => {
    proxy.configure({ dropAfterBytes: 1000, maxDrops: proxy.stats().drops + 1 });
    const before = proxy.stats().drops;
    const s = await connectTo(proxy.port);
    const ended = new Promise<string>((resolve) => {
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('close', () => resolve('close'));
    });
    s.write(Buffer.alloc(1500));
    await ended;
    expect(s.destroyed, 'the client side is gone').to.equal(true);
    expect(proxy.stats().drops - before).to.equal(1);
    // The drop budget is spent: the next connection carries more than 1000 bytes untouched.
    const data = pattern(5000);
    expect((await echoThrough(proxy.port, data)).got.equals(data)).to.equal(true);
    proxy.configure({ dropAfterBytes: undefined, maxDrops: undefined });
  });

  it('closes cleanly: open connections end and the port refuses new ones', async () => {
    const p = await startImpairProxy({ target: { host: '127.0.0.1', port: echo.port } });
    const s = await connectTo(p.port);
    const ended = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.on('error', () => undefined);
    await p.close();
    await ended;
    const refused = await connectTo(p.port).then(
      (c) => {
        c.destroy();
        return 'connected';
      },
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(refused).to.equal('ECONNREFUSED');
  });

  it('forked into a process of its own, it is configured, reports and closes over IPC', async () => {
    const remote = await forkImpairProxy({ target: { host: '127.0.0.1', port: echo.port } });
    try {
      await remote.configure({ up: { delayMs: 10 }, down: {} });
      await remote.resetStats();
      const data = pattern(2000);
      const { got, ms } = await echoThrough(remote.port, data);
      const st = await remote.stats();
      expect(got.equals(data)).to.equal(true);
      expect(ms).to.be.at.least(10);
      expect(st.up.bytes).to.equal(2000);
      expect(Math.min(...samplesMs(st.up.heldNs))).to.be.at.least(10);
      expect(st.connections).to.equal(1);
    } finally {
      await remote.close();
    }
    const alive = ((): boolean => {
      try {
        process.kill(remote.pid, 0);
        return true;
      } catch {
        return false;
      }
    })();
    expect(alive, 'the child exited').to.equal(false);
  });

  it('from its command line: parses the options and forwards through the port it prints', async () => {
    expect(parseProxyArgs(['--target', '[::1]:9000', '--delay-ms', '5', '--jitter-ms', '1', '--jitter', 'uniform', '--bandwidth', '1000000', '--max-drops', '2'])).to.deep.include({
      target: { host: '::1', port: 9000 },
      up: { delayMs: 5, jitterMs: 1, jitterDistribution: 'uniform', bandwidthBytesPerS: 1_000_000 },
      maxDrops: 2,
    });
    expect(() => parseProxyArgs(['--target', 'nowhere'])).to.throw(/--target host:port/);
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'lab', 'impair-proxy-cli.js'), '--target', `127.0.0.1:${echo.port}`, '--delay-ms', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`impair-proxy-cli exited (${code}): ${out}`)));
      });
      const data = pattern(4000);
      expect((await echoThrough(port, data)).got.equals(data)).to.equal(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
