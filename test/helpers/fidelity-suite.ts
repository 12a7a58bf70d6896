/**
 * The measurement-fidelity suite, run by test/fidelity/ping.fidelity.ts (`npm run test:fidelity`) and, for
 * the 0.3 ms floor, by test/soak/fidelity-precise.soak.ts. The client must report what the network did: a real server
 * (`npm start`'s main.js in a child process, MobileNet; Ping does no model work), the real CLI (`main()` from
 * src/client/cli.ts with --json, read back from the file a user would read), and between them the
 * impairment proxy (src/lab/impair-proxy.ts, in a process of its own) injecting a known delay, delay
 * variation, bandwidth limit or connection drop. Delay is compared with a baseline measured at the same time
 * through a second proxy that injects nothing; jitter with the path's own jitter measured in the same run.
 * Expected values and their derivations: docs/RELIABILITY.md ("Measurement fidelity").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { main, type Io } from '../../src/client/cli';
import type { PingSummary, Probe } from '../../src/measure/ping-summary';
import { MOBILENET_JSON, sharedFixture } from '../helpers/fixtures';
import { startServerProcess, type ServerProcess } from './server-process';
import { forkImpairProxy, type DirectionImpairment, type RemoteImpairProxy } from '../../src/lab/impair-proxy';
import { meanMs } from '../../src/lab/impair-stats';

interface PingJson {
  summary: PingSummary;
  status_counts: Record<string, number>;
  errors: Array<{ message: string; count: number }>;
  probes: Probe[];
}

/**
 * One-way delay both fidelity paths carry before any D is injected. A path's RTT includes the hosts'
 * wake-ups from idle, and those grow with the time spent idle: from a bare loopback baseline, real but
 * uninjected wake-up time would count as part of D. The growth shrinks as the base delay grows, so both
 * paths start at 5 ms, a metro-area VPN's one-way delay (evidence: docs/decisions/0004-measurement-fidelity-pitfalls.md).
 */
export const BASE_DELAY_MS = 5;

/**
 * The proxy is the reference: when the machine is so loaded that the proxy itself releases chunks late by
 * more than a quarter of the tolerance (mean over the run, both directions), the run says nothing about the
 * client, so it is repeated (5 attempts unless told otherwise). The tolerance applied to the client is never widened. If no
 * attempt had a trustworthy reference, the test is skipped with the reason printed — or fails under CI=true,
 * like a missing fixture (test/helpers/fixtures.ts): CI machines must be quiet enough to measure on.
 */
export function referenceOk(lateMs: number, tolMs: number): string | undefined {
  return lateMs <= 0.25 * tolMs ? undefined : `proxy released ${lateMs.toFixed(3)} ms late on average (> 25 % of the ${tolMs.toFixed(2)} ms tolerance): machine too loaded for a trustworthy reference`;
}

export async function withTrustworthyReference<T>(ctx: Mocha.Context, attempt: () => Promise<T>, why: (r: T) => string | undefined, attempts = 5): Promise<T> {
  const reasons: string[] = [];
  for (let i = 0; i < attempts; i++) {
    const r = await attempt();
    const bad = why(r);
    if (!bad) return r;
    reasons.push(bad);
    console.log(`      (attempt ${i + 1} discarded: ${bad})`);
  }
  const msg = `no attempt had a trustworthy reference: ${reasons.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.log(`      skipped: ${msg}`);
  ctx.skip();
  throw new Error('unreachable');
}

const quietIo = (onLine?: (l: string) => void): Io => ({ out: (l) => onLine?.(l), err: () => undefined });

export interface FidelityPlan {
  /** One-way delays D to test, ms. */
  delaysMs: number[];
  /** Probes per side in each delay test. */
  delayProbes: number;
  /** Also run the jitter, bandwidth and drop tests. */
  all: boolean;
}

/**
 * The suite, parameterised so test/soak/fidelity-precise.soak.ts can run the delay check where the 0.3 ms
 * floor applies (D = 1.5 ms) with enough probes to beat this machine's RTT noise.
 */
export function describeFidelity(title: string, plan: FidelityPlan): void {
  describe(title, function () {
    this.timeout(60_000 + plan.delayProbes * 100);
    let server: ServerProcess;
    let proxy: RemoteImpairProxy;
    /** A second proxy that never injects anything: the same-time baseline path. */
    let plain: RemoteImpairProxy;
    let dir: string;
    let runs = 0;

    before(async function () {
      const model = sharedFixture(this, MOBILENET_JSON);
      // Server, proxy and client each in a process of their own, as on a real path: no shared event loop.
      server = await startServerProcess(['--model', model, '--normalize', 'signed', '--log-level', 'info']);
      proxy = await forkImpairProxy({ target: { host: '127.0.0.1', port: server.port }, seed: 6 });
      plain = await forkImpairProxy({ target: { host: '127.0.0.1', port: server.port } });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fidelity-'));
    });
    after(async () => {
      await proxy?.close();
      await plain?.close();
      await server?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    async function ping(args: string[], onLine?: (l: string) => void, via: { port: number } = proxy): Promise<PingJson> {
      const json = path.join(dir, `ping-${runs++}.json`);
      const code = await main(['ping', '--target', `127.0.0.1:${via.port}`, '--json', json, ...args], quietIo(onLine));
      // 0 even when the drop test loses probes: ping exits 1 only when no reply came at all.
      expect(code, 'rtinfer ping exit code').to.equal(0);
      return JSON.parse(fs.readFileSync(json, 'utf8')) as PingJson;
    }

    const set = (up: DirectionImpairment, down: DirectionImpairment = up): Promise<void> => proxy.configure({ up, down });

    for (const D of plan.delaysMs) {
      it(`one-way delay D = ${D} ms each way → mean RTT rises by 2D within max(10 %, 0.3 ms)`, async () => {
        // Two paths measured at the same time, so whatever this shared machine does meanwhile lands on both
        // means: the baseline through `plain` with BASE_DELAY_MS each way, the test path through `proxy` with
        // BASE_DELAY_MS + D (why a base delay at all: BASE_DELAY_MS). Both send Poisson arrivals (mean 10 ms,
        // independent random seeds): with a probe every 10 ms, a path whose RTT is a multiple of 10 ms has each
        // reply land exactly when the client sends, the proxy releases and the server answers — three
        // processes wanting the 2 cores at once — and reads too much (docs/decisions/0004-measurement-fidelity-pitfalls.md);
        // Poisson send times cannot phase-lock with anything (RFC 2330 §11.1.1).
        const count = ['--count', String(plan.delayProbes), '-q', '--arrivals', 'poisson', '--interval-ms', '10'];
        const tol = Math.max(0.1 * 2 * D, 0.3);
        await plain.configure({ up: { delayMs: BASE_DELAY_MS }, down: { delayMs: BASE_DELAY_MS } });
        await set({ delayMs: BASE_DELAY_MS + D });
        await Promise.all([proxy.resetStats(), plain.resetStats()]);
        const [b, d] = (await Promise.all([ping(count, undefined, plain), ping(count)])).map((x) => x.summary);
        const [st, sb] = await Promise.all([proxy.stats(), plain.stats()]);
        await Promise.all([set({}), plain.configure({ up: {}, down: {} })]);
        // The ground truth: what the proxies really held each chunk (D + draw + their own release lateness),
        // test path minus baseline. The client is judged against this; that it is 2D is checked separately.
        const injUp = meanMs(st.up.heldNs) - meanMs(sb.up.heldNs);
        const injDown = meanMs(st.down.heldNs) - meanMs(sb.down.heldNs);
        const rise = d.rtt.mean_ms - b.rtt.mean_ms;
        const f = (x: number): string => x.toFixed(3);
        console.log(
          `      (D=${D}: baseline mean RTT ${f(b.rtt.mean_ms)} ms, delayed ${f(d.rtt.mean_ms)} ms → rise ${f(rise)} ms; injected (proxies' hold times) ` +
            `${f(injUp)} up + ${f(injDown)} down = ${f(injUp + injDown)} ms vs 2D = ${2 * D}: error ${f(rise - injUp - injDown)} ms, tolerance ±${tol.toFixed(2)}; ` +
            `proxy release lateness ${f(meanMs(st.up.lateNs))} up ${f(meanMs(st.down.lateNs))} down; ` +
            `one-way mean send ${f(b.clock!.send_delay.mean_ms)} → ${f(d.clock!.send_delay.mean_ms)}, receive ${f(b.clock!.receive_delay.mean_ms)} → ${f(d.clock!.receive_delay.mean_ms)} ms)`,
        );
        for (const s of [b, d]) expect(s.lost, 'no probe lost').to.equal(0);
        expect(Math.abs(injUp + injDown - 2 * D), 'the proxies injected 2D (their hold times, test path minus baseline)').to.be.at.most(tol / 3);
        expect(Math.abs(rise - (injUp + injDown)), 'mean RTT rise vs the injected delay').to.be.at.most(tol);
        // The clock-offset estimate splits the rise evenly (the path is symmetric), so each one-way delay rose by D.
        expect(Math.abs(d.clock!.send_delay.mean_ms - b.clock!.send_delay.mean_ms - injUp)).to.be.at.most(Math.max(0.1 * D, 0.3));
        expect(Math.abs(d.clock!.receive_delay.mean_ms - b.clock!.receive_delay.mean_ms - injDown)).to.be.at.most(Math.max(0.1 * D, 0.3));
      });
    }

    if (!plan.all) return;

    it('delay variation → mean |IPDV| within 20 % of its expected value 2σ/√π (normal) and 2σ/√3 (uniform), per direction', async function () {
      // Up: normal σ = 5 ms; down: uniform σ = 4 ms (±6.9 ms). D = 20 ms keeps the clip at D + X ≥ 0 four σ
      // away. Probes every 30 ms: ordering would bind only when X_{i−1} − X_i > 30 ms, over 4 standard
      // deviations of that difference, so each probe's one-way delay is D + X (+ the path's own variation).
      const [su, sd] = [5, 4];
      // The path's own variation (a shared machine's is not small) is measured in the same run with
      // the same schedule; it adds to the injected one in quadrature (independent, zero-mean; exact for normal
      // components, docs/RELIABILITY.md), so the expected figure is √(injected² + baseline²).
      const { base, r, late } = await withTrustworthyReference(
        this,
        async () => {
          await set({});
          const base = (await ping(['--count', '100', '--interval-ms', '30', '-q'])).summary;
          await set({ delayMs: 20, jitterMs: su, jitterDistribution: 'normal' }, { delayMs: 20, jitterMs: sd, jitterDistribution: 'uniform' });
          await proxy.resetStats();
          const r = await ping(['--count', '300', '--interval-ms', '30', '-q']);
          const late = await proxy.stats();
          await set({});
          return { base, r, late };
        },
        // The smallest expected figure is 2σ/√3 of the 4 ms uniform variation (≈4.6 ms), its 20 % tolerance
        // ≈0.9 ms. Release lateness varies from chunk to chunk, so it adds to the jitter the client sees; a
        // quarter of the tolerance adds under 1 % of the figure in quadrature.
        ({ late }) => referenceOk(meanMs(late.up.lateNs, late.down.lateNs), 0.9),
      );
      const s = r.summary;
      const injSend = (2 * su) / Math.sqrt(Math.PI); // E|X_i − X_{i−1}| for N(0, σ²) = 2σ/√π
      const injRecv = (2 * sd) / Math.sqrt(3); // for U(−√3σ, √3σ): width/3 = 2√3σ/3 = 2σ/√3
      const injRtt = expectedAbsDiffOfSum(su, sd); // X_up + X_down, numerically (see the function)
      const withPath = (inj: number, path: number): number => Math.hypot(inj, path);
      const expSend = withPath(injSend, base.jitter.send.mean_abs_ipdv_ms);
      const expRecv = withPath(injRecv, base.jitter.receive.mean_abs_ipdv_ms);
      const expRtt = withPath(injRtt, base.jitter.rtt.mean_abs_ipdv_ms);
      const sdRtt = Math.hypot(su, sd, base.rtt.stddev_ms);
      const f = (x: number): string => x.toFixed(3);
      console.log(
        `      (path's own mean |IPDV|: rtt ${f(base.jitter.rtt.mean_abs_ipdv_ms)} send ${f(base.jitter.send.mean_abs_ipdv_ms)} receive ${f(base.jitter.receive.mean_abs_ipdv_ms)} ms; ` +
          `bursts per probe up ${(late.up.bursts / 300).toFixed(2)} down ${(late.down.bursts / 300).toFixed(2)}; proxy release lateness mean ${f(meanMs(late.up.lateNs, late.down.lateNs))} ms)\n` +
          `      (mean |IPDV| reported vs expected (injected alone): send ${f(s.jitter.send.mean_abs_ipdv_ms)} vs ${f(expSend)} (${f(injSend)}), ` +
          `receive ${f(s.jitter.receive.mean_abs_ipdv_ms)} vs ${f(expRecv)} (${f(injRecv)}), rtt ${f(s.jitter.rtt.mean_abs_ipdv_ms)} vs ${f(expRtt)} (${f(injRtt)}); ` +
          `RFC 3550 send ${f(s.jitter.send.rfc3550_ms)} receive ${f(s.jitter.receive.rfc3550_ms)} rtt ${f(s.jitter.rtt.rfc3550_ms)}; RTT stddev ${f(s.rtt.stddev_ms)} vs ${f(sdRtt)} ms)`,
      );
      expect(s.lost).to.equal(0);
      expect(s.jitter.send.mean_abs_ipdv_ms).to.be.within(0.8 * expSend, 1.2 * expSend);
      expect(s.jitter.receive.mean_abs_ipdv_ms).to.be.within(0.8 * expRecv, 1.2 * expRecv);
      expect(s.jitter.rtt.mean_abs_ipdv_ms).to.be.within(0.8 * expRtt, 1.2 * expRtt);
      expect(s.rtt.stddev_ms).to.be.within(0.8 * sdRtt, 1.2 * sdRtt);
      // RFC 3550's J is a 16-probe running estimate of the same E|D|: its value after the last probe has a
      // relative standard deviation of ~14 % for normal delay (docs/RELIABILITY.md) and more on a heavy-tailed
      // path (docs/decisions/0004-measurement-fidelity-pitfalls.md), so the 20 % figure is held by mean |IPDV| above. J is
      // checked for what it is: the RFC's recursion over exactly the RTTs this run reported (recomputed here
      // independently from the per-probe records), and within a factor of two of E|D| as a units sanity check.
      let j = 0;
      const rtts = r.probes.map((p) => (p.rtt_ns === undefined ? null : p.rtt_ns / 1e6));
      for (let i = 1; i < rtts.length; i++) {
        const [x, y] = [rtts[i - 1], rtts[i]];
        if (x !== null && y !== null) j += (Math.abs(y - x) - j) / 16;
      }
      expect(s.jitter.rtt.rfc3550_ms).to.be.closeTo(j, 1e-6);
      expect(s.jitter.rtt.rfc3550_ms).to.be.within(0.5 * expRtt, 2 * expRtt);
    });

    it('bandwidth limits → --payload-bytes / --response-bytes report up and down throughput within 15 % of B', async () => {
      const upB = 1_000_000;
      const downB = 2_000_000;
      await set({ bandwidthBytesPerS: upB }, { bandwidthBytesPerS: downB });
      // 50 kB up takes 50 ms and 100 kB down 50 ms; probes 200 ms apart never queue behind each other.
      const r = await ping(['--count', '12', '--interval-ms', '200', '--payload-bytes', '50000', '--response-bytes', '100000', '-q']);
      await set({});
      const t = r.summary.throughput!;
      console.log(`      (up ${t.up_mb_per_s!.toFixed(3)} MB/s vs B ${upB / 1e6}; down ${t.down_mb_per_s!.toFixed(3)} MB/s vs B ${downB / 1e6}; ${t.up_bytes} B up, ${t.down_bytes} B down)`);
      expect(r.summary.lost).to.equal(0);
      expect(t.up_mb_per_s! * 1e6).to.be.within(0.85 * upB, 1.15 * upB);
      expect(t.down_mb_per_s! * 1e6).to.be.within(0.85 * downB, 1.15 * downB);
    });

    it('a dropped connection → its probes are counted lost with their status, never averaged into the RTT', async () => {
      await set({ delayMs: 2 });
      const dropsBefore = (await proxy.stats()).drops;
      let seen = 0;
      // After the 10th reply, the next chunk in either direction kills the connection (exactly one drop).
      const r = await ping(['--count', '40', '--interval-ms', '15', '--deadline-ms', '2000'], (line) => {
        if (/seq=\d+ .*rtt=/.test(line) && ++seen === 10) void proxy.configure({ dropProbability: 1, maxDrops: dropsBefore + 1 });
      });
      await proxy.configure({ dropProbability: 0, maxDrops: undefined });
      await set({});
      const s = r.summary;
      const failed = r.probes.filter((p) => p.status !== 'OK');
      console.log(`      (40 probes, 1 connection drop: ${s.received} received, ${s.lost} lost (${s.loss_percent.toFixed(1)} %); statuses ${JSON.stringify(r.status_counts)}; errors ${JSON.stringify(r.errors)})`);
      expect((await proxy.stats()).drops - dropsBefore).to.equal(1);
      expect(s.sent).to.equal(40);
      expect(s.lost).to.be.within(1, 5);
      expect(s.received + s.lost).to.equal(40);
      expect(s.loss_percent).to.be.closeTo((100 * s.lost) / 40, 1e-9);
      expect(failed).to.have.length(s.lost);
      expect(failed.every((p) => p.rtt_ns === undefined && /UNAVAILABLE|CANCELLED|INTERNAL|DEADLINE_EXCEEDED/.test(p.status))).to.equal(true);
      expect(Object.entries(r.status_counts).filter(([k]) => k !== 'OK').reduce((a, [, v]) => a + v, 0)).to.equal(s.lost);
      expect(r.errors.reduce((a, e) => a + e.count, 0)).to.equal(s.lost);
      // RTT statistics come from the received probes only.
      expect(s.rtt.count).to.equal(s.received);
      const okMean = r.probes.filter((p) => p.rtt_ns !== undefined).reduce((a, p) => a + p.rtt_ns!, 0) / s.received / 1e6;
      expect(s.rtt.mean_ms).to.be.closeTo(okMean, 0.01);
      // And the run recovered: probes after the drop got through on a new connection.
      expect(r.probes.slice(-5).every((p) => p.status === 'OK')).to.equal(true);
    });
  });
}


/**
 * E|S_i − S_{i−1}| for S = X + Y, X ~ N(0, σx²), Y ~ U(−√3σy, √3σy), i.i.d. over i. No neat closed form,
 * so it is integrated numerically: S_i − S_{i−1} = N(0, 2σx²) + (U1 − U2), where U1 − U2 is triangular on
 * [−2√3σy, 2√3σy]; E|N(μ, s²)| = s√(2/π)·e^(−μ²/2s²) + μ(1 − 2Φ(−μ/s)) integrated over the triangle.
 */
export function expectedAbsDiffOfSum(sigmaNormal: number, sigmaUniform: number): number {
  const s = Math.SQRT2 * sigmaNormal;
  const w = 2 * Math.sqrt(3) * sigmaUniform; // triangle half-width
  const steps = 20_000;
  let acc = 0;
  for (let i = 0; i < steps; i++) {
    const mu = -w + ((i + 0.5) / steps) * 2 * w;
    const density = (w - Math.abs(mu)) / (w * w);
    const eAbs = s * Math.sqrt(2 / Math.PI) * Math.exp(-(mu * mu) / (2 * s * s)) + mu * (1 - 2 * normalCdf(-mu / s));
    acc += eAbs * density * ((2 * w) / steps);
  }
  return acc;
}

/** Φ via the Abramowitz–Stegun 7.1.26 erf approximation (|error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496735) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

