/**
 * The impairment proxy's own accuracy, against a plain TCP echo server (no gRPC): what it adds with nothing
 * injected (the baseline every fidelity test subtracts), how exactly it injects a delay, how exactly it
 * limits bandwidth, and that a drop really kills the connection. If these drift, the fidelity tests would
 * be judging the client against a wrong reference.
 */
import * as net from 'node:net';
import { expect } from 'chai';
import { nearestRank, referenceOk, startImpairProxy, withTrustworthyReference, type ImpairProxy } from './tools/impair-proxy';

function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    socks.add(s);
    s.on('data', (d) => s.write(d));
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        port: (srv.address() as net.AddressInfo).port,
        close: () => new Promise<void>((r) => {
          for (const s of socks) s.destroy();
          srv.close(() => r());
        }),
      }),
    ),
  );
}

function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

/** n echo round trips of a small message, one at a time, spaced `gapMs`; RTTs in ms. */
async function echoRtts(port: number, n: number, gapMs: number): Promise<number[]> {
  const s = await connectTo(port);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        s.once('data', () => resolve());
        s.write(Buffer.from('ping-ping-ping-ping'));
      });
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  } finally {
    s.destroy();
  }
  return out;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]): number => nearestRank(xs, 50);

describe('fidelity: the impairment proxy itself (TCP echo, no gRPC)', function () {
  this.timeout(30_000);
  let echo: { port: number; close(): Promise<void> };
  let proxy: ImpairProxy;
  before(async () => {
    echo = await echoServer();
    proxy = await startImpairProxy({ target: { host: '127.0.0.1', port: echo.port } });
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
  });

  it('adds little with nothing injected, and injects a 2 ms one-way delay each way to within 0.1 ms (median)', async () => {
    const direct = await echoRtts(echo.port, 150, 2);
    proxy.configure({ up: {}, down: {} });
    const base = await echoRtts(proxy.port, 150, 2);
    proxy.configure({ up: { delayMs: 2 }, down: { delayMs: 2 } });
    proxy.resetStats();
    const delayed = await echoRtts(proxy.port, 150, 2);
    const late = [...proxy.stats().up.lateNs.samples, ...proxy.stats().down.lateNs.samples].map((x) => x / 1e6);
    const added = median(base) - median(direct);
    const rise = median(delayed) - median(base);
    console.log(
      `      (echo RTT median: direct ${median(direct).toFixed(3)} ms, proxy D=0 ${median(base).toFixed(3)} ms (+${added.toFixed(3)}), ` +
        `D=2 ms each way ${median(delayed).toFixed(3)} ms (rise ${rise.toFixed(3)} ms, mean rise ${(mean(delayed) - mean(base)).toFixed(3)}); ` +
        `release lateness p50 ${nearestRank(late, 50).toFixed(3)} p90 ${nearestRank(late, 90).toFixed(3)} p99 ${nearestRank(late, 99).toFixed(3)} max ${Math.max(...late).toFixed(3)} ms)`,
    );
    expect(added, 'proxy overhead with nothing injected (median RTT)').to.be.lessThan(0.5);
    expect(rise).to.be.closeTo(4, 0.1);
    expect(nearestRank(late, 50), 'median release lateness, ms').to.be.lessThan(0.1);
  });

  it('limits bandwidth: 400 kB through a 2 MB/s link takes 200 ms (±5 %)', async () => {
    proxy.configure({ up: { bandwidthBytesPerS: 2_000_000 }, down: {} });
    const s = await connectTo(proxy.port);
    const total = 400_000;
    let got = 0;
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      s.on('data', (d) => {
        got += d.length;
        if (got >= total) resolve();
      });
      s.write(Buffer.alloc(total, 7));
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    s.destroy();
    console.log(`      (400 kB at 2 MB/s: ${ms.toFixed(1)} ms → ${(total / ms / 1e3).toFixed(3)} MB/s)`);
    expect(ms).to.be.within(190, 210);
  });

  it('uniform jitter: one-way delays have the injected mean and standard deviation', async function () {
    // The echo path's own variation (same schedule, nothing injected) adds in quadrature.
    const sdOf = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
    const { base, r } = await withTrustworthyReference(
      this,
      async () => {
        proxy.configure({ up: {}, down: {} });
        const base = await echoRtts(proxy.port, 100, 8);
        proxy.configure({ up: { delayMs: 5, jitterMs: 1, jitterDistribution: 'uniform' }, down: {} });
        proxy.resetStats();
        const r = await echoRtts(proxy.port, 300, 8); // gap ≫ range of X (±1.73 ms): ordering never binds
        proxy.configure({ up: {}, down: {} });
        const st = proxy.stats().up.lateNs;
        return { base, r, lateMs: st.sum / Math.max(1, st.count) / 1e6 };
      },
      ({ lateMs }) => referenceOk(lateMs, 0.25),
    );
    const m = mean(r) - mean(base);
    const expectSd = Math.hypot(1, sdOf(base));
    console.log(`      (uniform σ=1 ms, D=5 ms one way: measured mean +${m.toFixed(3)} ms, σ ${sdOf(r).toFixed(3)} ms vs √(1 + path σ ${sdOf(base).toFixed(3)}²) = ${expectSd.toFixed(3)})`);
    expect(m).to.be.closeTo(5, 0.25);
    expect(sdOf(r)).to.be.within(0.85 * expectSd, 1.15 * expectSd);
  });

  it('drops: after N bytes the connection is reset, and only maxDrops connections are killed', async () => {
    proxy.configure({ up: {}, down: {}, dropAfterBytes: 1000, maxDrops: 1 });
    const before = proxy.stats().drops;
    const s = await connectTo(proxy.port);
    const closed = new Promise<string>((resolve) => {
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('close', () => resolve('close'));
    });
    s.write(Buffer.alloc(600));
    await new Promise((r) => setTimeout(r, 20));
    s.write(Buffer.alloc(600));
    expect(await closed).to.match(/ECONNRESET|close/);
    expect(proxy.stats().drops - before).to.equal(1);
    // The drop budget is spent: the next connection carries 5000 bytes untouched.
    const rtts = await echoRtts(proxy.port, 3, 1);
    expect(rtts).to.have.length(3);
    proxy.configure({ dropAfterBytes: undefined, maxDrops: undefined });
  });
});
