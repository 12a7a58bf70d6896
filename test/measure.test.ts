import { expect } from 'chai';
import { buckets, cdf, createLatencyHistogram, summarize } from '../src/measure/histogram';
import { jitter } from '../src/measure/jitter';
import { ClockSample, estimateClock, oneWayDelays } from '../src/measure/clock';
import { constantPacer, poissonPacer } from '../src/measure/pacer';
import { runLoad, DoneFn } from '../src/measure/load';
import { verdict } from '../src/measure/verdict';
import { findKnee } from '../src/measure/sweep';
import { assessStability, chooseWindowSeconds, selfCheck, windowsOf } from '../src/measure/stability';
import type { SeriesPoint } from '../src/measure/timeseries';

const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));

describe('measure: histogram percentiles (nearest rank)', () => {
  it('1..100 µs gives p50 = 50 µs, p99 = 99 µs, p99.9 = 100 µs, exact mean and stddev', () => {
    const h = createLatencyHistogram();
    for (let i = 1; i <= 100; i++) h.recordNanos(i * 1000);
    const s = summarize(h);
    expect(s.count).to.equal(100);
    expect(s.percentiles_ms).to.deep.equal({ p10: 0.01, p25: 0.025, p50: 0.05, p75: 0.075, p90: 0.09, p95: 0.095, p99: 0.099, 'p99.9': 0.1 });
    expect(s.min_ms).to.equal(0.001);
    expect(s.max_ms).to.equal(0.1);
    expect(s.mean_ms).to.be.closeTo(0.0505, 1e-9);
    // population stddev of 1..n is sqrt((n²−1)/12) = 28.866 µs
    expect(s.stddev_ms).to.be.closeTo(Math.sqrt(9999 / 12) / 1000, 1e-6);
  });

  it('a single outlier among ten moves p99 but not p90', () => {
    const h = createLatencyHistogram();
    for (const us of [1, 2, 3, 4, 5, 6, 7, 8, 9, 1000]) h.recordNanos(us * 1000);
    const s = summarize(h);
    expect(s.percentiles_ms.p50).to.equal(0.005);
    expect(s.percentiles_ms.p90).to.equal(0.009);
    expect(s.percentiles_ms.p99).to.equal(1);
  });

  it('buckets sum to the sample count and the CDF ends at 1', () => {
    const h = createLatencyHistogram();
    for (let i = 0; i < 1000; i++) h.recordNanos((500 + (i % 250) * 7) * 1000);
    const b = buckets(h, 10);
    expect(b).to.have.length(10);
    expect(b.reduce((s, x) => s + x.count, 0)).to.equal(1000);
    const c = cdf(h, 50);
    expect(c.length).to.be.at.most(50);
    expect(c[c.length - 1].fraction).to.equal(1);
    for (let i = 1; i < c.length; i++) expect(c[i].ms).to.be.greaterThan(c[i - 1].ms);
  });

  it('an empty histogram summarises to zeros, not NaN', () => {
    const s = summarize(createLatencyHistogram());
    expect(s.count).to.equal(0);
    expect(s.percentiles_ms.p99).to.equal(0);
    expect(buckets(createLatencyHistogram())).to.deep.equal([]);
  });
});

describe('measure: jitter', () => {
  it('RFC 3550 estimator and mean |IPDV| match a hand computation, skipping pairs around a loss', () => {
    // pairs: |12−10|=2, |11−12|=1, |15−11|=4, (15,lost) and (lost,14) skipped, |14−14|=0
    // J: 2/16 = 0.125; +(1−0.125)/16 = 0.1796875; +(4−0.1796875)/16 = 0.41845703125; +(0−J)/16 = 0.392303466796875
    const j = jitter([10, 12, 11, 15, null, 14, 14]);
    expect(j.pairs).to.equal(4);
    expect(j.rfc3550).to.be.closeTo(0.392303466796875, 1e-12);
    expect(j.meanAbsIpdv).to.equal(1.75);
    expect(j.maxAbsIpdv).to.equal(4);
  });

  it('a constant clock offset in the transit times does not change one-way jitter', () => {
    const a = jitter([5, 7, 6, 9]);
    const b = jitter([1e9 + 5, 1e9 + 7, 1e9 + 6, 1e9 + 9]);
    expect(b.rfc3550).to.be.closeTo(a.rfc3550, 1e-6);
    expect(b.meanAbsIpdv).to.be.closeTo(a.meanAbsIpdv, 1e-6);
  });
});

describe('measure: clock offset and one-way delay (NTP style)', () => {
  // Server clock = client clock + 5 ms. Probe A: 2 ms up, 1 ms in the server, 2 ms down (symmetric).
  // Probe B: queued 20 ms on the way up, 3 ms down.
  const A: ClockSample = { t1: ms(1000), t2: ms(1007), t3: ms(1008), t4: ms(1005) };
  const B: ClockSample = { t1: ms(2000), t2: ms(2025), t3: ms(2026), t4: ms(2024) };

  it('recovers the offset exactly from a symmetric probe and uses the min-delay probe', () => {
    const e = estimateClock([B, A])!;
    expect(e.offsetNs).to.equal(5e6);
    expect(e.minDelayNs).to.equal(4e6); // (1005 − 1000) − (1008 − 1007)
    expect(e.errorBoundNs).to.equal(2e6);
    expect(e.samplesUsed).to.equal(1);
  });

  it('one-way delays are corrected by the offset', () => {
    const w = oneWayDelays([A, B], 5e6);
    expect(w.sendNs).to.deep.equal([2e6, 20e6]);
    expect(w.receiveNs).to.deep.equal([2e6, 3e6]);
  });

  it('an asymmetric path biases the offset by half the asymmetry, within the stated bound', () => {
    // 2 ms up, 4 ms down, true offset 5 ms: θ = ((7) + (1008 − 1007))/2 = 4 ms, bound ±(6−1)/2... δ = 6 ms
    const C: ClockSample = { t1: ms(1000), t2: ms(1007), t3: ms(1008), t4: ms(1007) };
    const e = estimateClock([C])!;
    expect(e.offsetNs).to.equal(4e6);
    expect(Math.abs(e.offsetNs - 5e6)).to.be.at.most(e.errorBoundNs);
  });

  it('no samples, no estimate', () => {
    expect(estimateClock([])).to.equal(undefined);
  });
});

describe('measure: pacers', () => {
  it('constant rate schedules request k at k/rate', () => {
    const p = constantPacer(4);
    expect([p.next(), p.next(), p.next()]).to.deep.equal([0, 250e6, 500e6]);
  });
  it('Poisson arrivals have the requested mean rate and are reproducible from the seed', () => {
    const p = poissonPacer(100, 7);
    let last = 0;
    for (let i = 0; i < 20000; i++) last = p.next();
    expect(20000 / (last / 1e9)).to.be.closeTo(100, 3);
    const q = poissonPacer(100, 7);
    const r = poissonPacer(100, 7);
    q.next();
    r.next();
    expect(q.next()).to.equal(r.next());
  });
});

describe('measure: load runner', () => {
  it('open loop measures from the intended send time: a 50 ms stall shows on every request it delayed', async () => {
    // 1000 req/s for 100 ms, one in flight; each call takes ~0 ms except request 10, which stalls 50 ms.
    // Requests 11..~59 are due during the stall and wait in the client; from the intended time their
    // latencies run ~49 ms down to ~1 ms. Measured from the actual send they would all look ~0 ms.
    const r = await runLoad({
      mode: 'open',
      concurrency: 1,
      pacer: () => constantPacer(1000),
      durationS: 0.1,
      issue: (slot: number, seq: number, done: DoneFn) => {
        if (seq === 10) setTimeout(() => done(slot, 0, 10, 20, 1, undefined, undefined), 50);
        else setImmediate(() => done(slot, 0, 10, 20, 1, undefined, undefined));
      },
    });
    expect(r.ok).to.be.within(95, 100);
    const over10ms = (h: typeof r.latency): number => {
      let n = 0;
      for (const b of buckets(h, 1000)) if (b.from_ms >= 10) n += b.count;
      return n;
    };
    expect(over10ms(r.latency)).to.be.at.least(30);
    expect(summarize(r.latency).max_ms).to.be.within(49, 80);
    // the same run, measured the coordinated-omission way, hides the stall behind one slow request
    expect(over10ms(r.service)).to.be.at.most(1);
    expect(r.sentLate / r.scheduled).to.be.greaterThan(0.01);
    expect(selfCheck({ clientBusy: 0, scheduled: r.scheduled, sentLate: r.sentLate })[0]).to.match(/sent > 1 ms late/);
  });

  it('closed loop keeps exactly C requests in flight and stops at the request count', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const r = await runLoad({
      mode: 'closed',
      concurrency: 3,
      requests: 50,
      issue: (slot, _seq, done) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          done(slot, slot === 0 ? 14 : 0, 100, 1000, 1, undefined, slot === 0 ? 'no server' : undefined);
        }, 2);
      },
    });
    expect(r.sent).to.equal(50);
    expect(r.completed).to.equal(50);
    expect(maxInFlight).to.equal(3);
    expect(r.statusCounts.UNAVAILABLE).to.equal(r.errors);
    expect(r.errors).to.be.greaterThan(0);
    expect(r.errorMessages['UNAVAILABLE: no server']).to.equal(r.errors);
    expect(r.ok + r.errors).to.equal(50);
    expect(r.bytesUp).to.equal(5000);
  });

  it('warm-up requests are not measured', async () => {
    const r = await runLoad({
      mode: 'closed', concurrency: 1, requests: 5, warmupRequests: 7,
      issue: (slot, _s, done) => setImmediate(() => done(slot, 0, 0, 0, 1, undefined, undefined)),
    });
    expect(r.warmupRequests).to.equal(7);
    expect(r.ok).to.equal(5);
    expect(summarize(r.latency).count).to.equal(5);
  });
});

describe('measure: verdict, knee, stability', () => {
  it('says why it fails, e.g. "p99 142 ms > 100 ms budget"', () => {
    const v = verdict({ budgetMs: 100, fps: 15, latencyAtPercentileMs: 142, achievedFps: 15, total: 300, errors: 0 })!;
    expect(v.status).to.equal('FAIL');
    expect(v.reasons).to.deep.equal(['p99 142 ms > 100 ms budget']);
    const ok = verdict({ budgetMs: 100, fps: 15, latencyAtPercentileMs: 40, achievedFps: 14.9, total: 300, errors: 0, dropped: 0 })!;
    expect(ok.status).to.equal('PASS');
    const slow = verdict({ fps: 15, latencyAtPercentileMs: 40, achievedFps: 12, total: 300, errors: 2, dropped: 4 })!;
    expect(slow.reasons).to.deep.equal(['achieved 12.0 fps < 15.0 fps target', '2 of 300 failed', '4 frames dropped (in-flight window full)']);
    expect(verdict({ latencyAtPercentileMs: 1, achievedFps: 1, total: 1, errors: 0 })).to.equal(undefined);
  });

  it('finds the knee where throughput stops growing by 10 %', () => {
    const k = findKnee([
      { concurrency: 1, throughput_rps: 100, p50_ms: 10, p99_ms: 12 },
      { concurrency: 2, throughput_rps: 190, p50_ms: 10, p99_ms: 13 },
      { concurrency: 4, throughput_rps: 260, p50_ms: 15, p99_ms: 20 },
      { concurrency: 8, throughput_rps: 270, p50_ms: 30, p99_ms: 40 },
    ])!;
    expect(k.concurrency).to.equal(4);
    expect(k.saturated).to.equal(true);
    expect(k.reason).to.match(/3\.8 %/);
  });

  it('stability: last 3 windows within 10 % → stable; a collapse → not stable', () => {
    const pts = (oks: number[]): SeriesPoint[] => oks.map((ok, t_s) => ({ t_s, ok, errors: 0, images: ok, bytes_up: 0, bytes_down: 0, mean_ms: 10, p50_ms: 10, p99_ms: 10, max_ms: 10 }));
    const good = pts([80, 100, 104, 98, 101]);
    expect(chooseWindowSeconds(good)).to.equal(1);
    expect(assessStability(windowsOf(good, 1), 1).stable).to.equal(true);
    const bad = assessStability(windowsOf(pts([100, 100, 50, 100]), 1), 1);
    expect(bad.stable).to.equal(false);
    expect(bad.reason).to.match(/throughput spread 100\.0 %/);
    expect(chooseWindowSeconds(pts([10, 10, 10]))).to.equal(5);
  });
});
