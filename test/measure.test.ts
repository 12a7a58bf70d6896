import { expect } from 'chai';
import { buckets, cdf, createLatencyHistogram, summarize } from '../src/measure/histogram';
import { jitter } from '../src/measure/jitter';
import { ClockSample, estimateClock, oneWayDelays } from '../src/measure/clock';
import { constantPacer, poissonPacer } from '../src/measure/pacer';
import type { CallOutcome } from '../src/measure/call';
import { runLoad, type LoadResult, type LoadSpec } from '../src/measure/load-phase';
import { runLoadOn } from '../src/measure/load-run';
import { fillStreamReport } from '../src/measure/load-report';
import { emptyReport } from '../src/measure/report-doc';
import { probeLine, summaryText } from '../src/measure/ping-printer';
import { summarizePing, type Probe } from '../src/measure/ping-summary';
import type { Timebase } from '../src/measure/timebase';
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

/**
 * Virtual time for the load drivers: the clock moves only when everything runnable has run (no clock reads
 * or new wake-ups during an event-loop turn), and then jumps to the earliest pending wake-up or call end
 * (ties in the order they were scheduled). Scheduling is checked exactly, with no real-time bounds.
 */
interface VirtualTime {
  timebase: Timebase;
  nowMs(): number;
  /** Runs `fire` `delayNs` of virtual time from now (a call that takes that long). */
  after(delayNs: number, fire: () => void): void;
  /** Every wait the code under test asked for: when to, and whether it was the pacer's (it passes idle()). */
  waits: Array<{ atMs: number; paced: boolean }>;
  run<T>(p: Promise<T>): Promise<T>;
}

function virtualTime(): VirtualTime {
  let t = 0n;
  let activity = 0;
  let order = 0;
  const pending: Array<{ at: bigint; order: number; fire: () => void }> = [];
  const waits: VirtualTime['waits'] = [];
  const schedule = (at: bigint, fire: () => void): { at: bigint; order: number; fire: () => void } => {
    activity++;
    const e = { at, order: order++, fire };
    pending.push(e);
    return e;
  };
  const timebase: Timebase = {
    nowNs: () => {
      activity++;
      return t;
    },
    sleepUntil: (monoNs, signal, idle) =>
      new Promise<void>((resolve) => {
        waits.push({ atMs: Number(monoNs) / 1e6, paced: idle !== undefined });
        if (signal?.aborted) return resolve();
        const onAbort = (): void => {
          const i = pending.indexOf(e);
          if (i >= 0) pending.splice(i, 1);
          resolve();
        };
        const e = schedule(monoNs, () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort);
      }),
  };
  return {
    timebase,
    nowMs: () => Number(t) / 1e6,
    after: (delayNs, fire) => void schedule(t + BigInt(delayNs), fire),
    waits,
    async run<T>(p: Promise<T>): Promise<T> {
      let settled = false;
      p.then(() => (settled = true), () => (settled = true));
      for (;;) {
        let seen: number;
        do {
          seen = activity;
          await new Promise((r) => setImmediate(r));
        } while (seen !== activity);
        if (settled) return p;
        if (pending.length === 0) throw new Error('stalled: nothing pending and the load has not ended');
        pending.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.order - b.order));
        const e = pending.shift()!;
        if (e.at > t) t = e.at;
        e.fire();
      }
    },
  };
}

const outcome = (slot: number, code = 0, details?: string): CallOutcome => ({ slot, code, bytesUp: 100, bytesDown: 1000, images: code === 0 ? 1 : 0, serverTiming: undefined, details, replica: undefined });
const range = (from: number, to: number, step = 1): number[] => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

/** An open-loop run at 1000 req/s on `vt` whose every call takes `callNs`, with the time (ms) each call was sent. */
async function pacedRun(vt: VirtualTime, spec: Pick<LoadSpec, 'concurrency' | 'overflow' | 'durationS' | 'requests'>, callNs: number): Promise<{ r: LoadResult; sentAt: number[] }> {
  const sentAt: number[] = [];
  const r = await vt.run(runLoad({
    mode: 'open', pacer: () => constantPacer(1000), timebase: vt.timebase, ...spec,
    issue: (slot, _seq, done) => {
      sentAt.push(vt.nowMs());
      vt.after(callNs, () => done(outcome(slot)));
    },
  }));
  return { r, sentAt };
}

describe('measure: a load on another runtime (the browser page runs rtinfer stream this way)', () => {
  it('runs on the given clock and busy meter, and fills the stream report as rtinfer stream does', async () => {
    const vt = virtualTime();
    let meters = 0;
    const runtime = { timebase: vt.timebase, busyMeter: () => ((meters++), () => 0.25) };
    // 1000 frames/s, window 2, each call 2.5 ms: every third due frame finds the window full.
    const r = await vt.run(runLoadOn({
      mode: 'open', concurrency: 2, overflow: 'drop', pacer: () => constantPacer(1000), durationS: 0.012,
      issue: (slot, _seq, done) => vt.after(2_500_000, () => done(outcome(slot))),
    }, runtime));
    expect(meters, 'one measurement phase, no warm-up').to.equal(1);
    expect(r.clientBusy).to.equal(0.25);
    expect([r.scheduled, r.sent, r.dropped, r.ok]).to.deep.equal([12, 8, 4, 8]);
    const rep = emptyReport('stream', {}, { node: '', platform: 'test', os_release: '', arch: '', cpus: 1, cpu_model: '', total_memory_bytes: 0, hostname: '', target: 'virtual' }, new Date(0), '0.0.0');
    fillStreamReport(rep, r, { fps: 1000, window: 2, budgetMs: 10 });
    expect(rep.summary).to.include({ fps_target: 1000, window: 2, dropped: 4, ok: 8, client_busy: 0.25 });
    expect(rep.verdict?.status).to.equal('FAIL');
    expect(rep.verdict?.reasons).to.include('4 frames dropped (in-flight window full)');
  });
});

describe('measure: open-loop driver (virtual time)', () => {
  it('sends each request at its paced instant, sleeping until each one, and ends at the duration', async () => {
    const vt = virtualTime();
    const { r, sentAt } = await pacedRun(vt, { concurrency: 2, durationS: 0.01 }, 300_000);
    expect(sentAt).to.deep.equal(range(0, 9));
    // it waits for the next due time (1 ms … 10 ms, where the duration ends it), never polls in between
    expect(vt.waits.filter((w) => w.paced).map((w) => w.atMs)).to.deep.equal(range(1, 10));
    expect(r.endReason).to.equal('duration');
    expect([r.sent, r.scheduled, r.sentLate, r.ok]).to.deep.equal([10, 10, 0, 10]);
    expect(summarize(r.latency).percentiles_ms.p50).to.equal(0.3);
    expect(summarize(r.latency).max_ms).to.equal(0.3);
    expect(r.elapsedNs).to.equal(9.3e6);
  });

  it('measures from the intended send time: a 50 ms stall shows on every request it delayed, and they count as late', async () => {
    // 1000 req/s for 100 ms, one in flight; every call takes no time except request 10, which takes 50 ms.
    // Requests 11..59 fall due during the stall, wait in the client and leave at 60 ms: measured from their
    // intended times they took 49..1 ms. Measured from the actual send they would all look instant.
    const vt = virtualTime();
    const r = await vt.run(runLoad({
      mode: 'open', concurrency: 1, pacer: () => constantPacer(1000), durationS: 0.1, timebase: vt.timebase,
      issue: (slot, seq, done) => vt.after(seq === 10 ? 50e6 : 0, () => done(outcome(slot))),
    }));
    expect([r.sent, r.ok, r.scheduled, r.dropped]).to.deep.equal([100, 100, 100, 0]);
    const lat = summarize(r.latency);
    expect(lat.max_ms).to.be.closeTo(50, 0.05);
    expect(lat.percentiles_ms.p90).to.be.closeTo(40, 0.05);
    expect(lat.mean_ms).to.be.closeTo((50 + 49 * 25) / 100, 0.01);
    // the same run, measured the coordinated-omission way, hides the stall behind one slow request
    const svc = summarize(r.service);
    expect(svc.max_ms).to.be.closeTo(50, 0.05);
    expect(svc.percentiles_ms.p99).to.be.below(0.01);
    // 11..58 left more than 1 ms behind their schedule; 59 exactly 1 ms behind does not count
    expect(r.sentLate).to.equal(48);
    expect(selfCheck({ clientBusy: 0, scheduled: r.scheduled, sentLate: r.sentLate })[0]).to.match(/sent > 1 ms late/);
  });

  it("overflow 'drop': a request due while the window is full is skipped and counted, not queued", async () => {
    const { r, sentAt } = await pacedRun(virtualTime(), { concurrency: 1, overflow: 'drop', durationS: 0.01 }, 2.5e6);
    expect(sentAt).to.deep.equal([0, 3, 6, 9]);
    expect([r.sent, r.dropped, r.scheduled, r.ok, r.sentLate]).to.deep.equal([4, 6, 10, 4, 0]);
    expect(r.elapsedNs).to.equal(11.5e6); // the last call, sent at 9 ms, is awaited
  });

  it('ends at its request count', async () => {
    const { r, sentAt } = await pacedRun(virtualTime(), { concurrency: 4, requests: 5 }, 0);
    expect(sentAt).to.deep.equal(range(0, 4));
    expect([r.sent, r.ok, r.endReason]).to.deep.equal([5, 5, 'requests']);
  });

  it('a backlog whose calls fail inside their own issue() drains without recursing: 100 000 queued, all sent and counted', async () => {
    // Every request falls due at once while the one slot waits 1 ms on the first call; the transport then
    // fails each queued call synchronously (as h2's channel does during its reconnect back-off).
    const backlog = 100_000;
    const vt = virtualTime();
    let depth = 0;
    let maxDepth = 0;
    const r = await vt.run(runLoad({
      mode: 'open', concurrency: 1, requests: backlog + 1, timebase: vt.timebase,
      pacer: () => ({ kind: 'constant', next: () => 0 }),
      issue: (slot, seq, done) => {
        if (seq === 0) return vt.after(1e6, () => done(outcome(slot)));
        maxDepth = Math.max(maxDepth, ++depth);
        done(outcome(slot, 14, 'no connection'));
        depth--;
      },
    }));
    expect([r.sent, r.scheduled, r.ok, r.errors, r.dropped, r.unfinished, r.endReason]).to.deep.equal([backlog + 1, backlog + 1, 1, backlog, 0, 0, 'requests']);
    expect(r.errorMessages).to.deep.equal({ 'UNAVAILABLE: no connection': backlog });
    expect(maxDepth).to.equal(1);
  });
});

describe('measure: closed-loop driver (virtual time)', () => {
  it('keeps exactly C in flight, each worker sending the instant its call ends, and stops at the request count', async () => {
    // Worker k's calls take k + 1 ms, and worker 0's all fail.
    const vt = virtualTime();
    let inFlight = 0;
    const inFlightAfterSend: number[] = [];
    const sentAt: number[][] = [[], [], []];
    const r = await vt.run(runLoad({
      mode: 'closed', concurrency: 3, requests: 50, timebase: vt.timebase,
      issue: (slot, _seq, done) => {
        inFlightAfterSend.push(++inFlight);
        sentAt[slot].push(vt.nowMs());
        vt.after((slot + 1) * 1e6, () => {
          inFlight--;
          done(slot === 0 ? outcome(slot, 14, 'no server') : outcome(slot));
        });
      },
    }));
    expect(inFlightAfterSend).to.deep.equal([1, 2, 3, ...new Array(47).fill(3)]);
    // 27 + 14 + 9 = 50 requests by 26 ms
    expect(sentAt).to.deep.equal([range(0, 26), range(0, 26, 2), range(0, 24, 3)]);
    expect([r.sent, r.completed, r.ok, r.errors, r.endReason]).to.deep.equal([50, 50, 23, 27, 'requests']);
    expect(r.statusCounts).to.deep.equal({ OK: 23, UNAVAILABLE: 27 });
    expect(r.errorMessages).to.deep.equal({ 'UNAVAILABLE: no server': 27 });
    expect(r.bytesUp).to.equal(5000);
    expect(r.elapsedNs).to.equal(28e6); // worker 1's last call, sent at 26 ms, ends at 28 ms
    const lat = summarize(r.latency);
    expect([lat.count, lat.min_ms, lat.max_ms]).to.deep.equal([23, 2, 3]);
  });

  it('ends at its duration: no request starts after it, and the calls in flight are awaited', async () => {
    const vt = virtualTime();
    const r = await vt.run(runLoad({
      mode: 'closed', concurrency: 2, durationS: 0.01, timebase: vt.timebase,
      issue: (slot, _seq, done) => vt.after(1e6, () => done(outcome(slot))),
    }));
    expect([r.sent, r.completed, r.unfinished, r.endReason, r.elapsedNs]).to.deep.equal([20, 20, 0, 'duration', 10e6]);
  });

  it('calls that never end: the duration still stops issuing and the drain timeout ends the run, counting them', async () => {
    const vt = virtualTime();
    const r = await vt.run(runLoad({ mode: 'closed', concurrency: 2, durationS: 0.005, drainS: 0.5, timebase: vt.timebase, issue: () => undefined }));
    expect([r.sent, r.completed, r.unfinished, r.endReason]).to.deep.equal([2, 0, 2, 'drain-timeout']);
    expect(r.elapsedNs).to.equal(506e6); // 5 ms + the 1 ms backstop + 500 ms of drain
  });

  it('an abort stops issuing; the call in flight is still measured', async () => {
    const vt = virtualTime();
    const ac = new AbortController();
    vt.after(3.5e6, () => ac.abort());
    const r = await vt.run(runLoad({
      mode: 'closed', concurrency: 1, durationS: 1, signal: ac.signal, timebase: vt.timebase,
      issue: (slot, _seq, done) => vt.after(1e6, () => done(outcome(slot))),
    }));
    expect([r.sent, r.completed, r.endReason, r.elapsedNs]).to.deep.equal([4, 4, 'interrupted', 4e6]);
  });

  it('a call that ends inside its own issue() does not recurse', async () => {
    const vt = virtualTime();
    let depth = 0;
    let maxDepth = 0;
    const r = await vt.run(runLoad({
      mode: 'closed', concurrency: 2, requests: 200, timebase: vt.timebase,
      issue: (slot, _seq, done) => {
        maxDepth = Math.max(maxDepth, ++depth);
        done(outcome(slot));
        depth--;
      },
    }));
    expect([r.sent, r.ok, maxDepth]).to.deep.equal([200, 200, 1]);
  });

  it('warm-up requests are not measured', async () => {
    const vt = virtualTime();
    const r = await vt.run(runLoad({
      mode: 'closed', concurrency: 1, requests: 5, warmupRequests: 7, timebase: vt.timebase,
      issue: (slot, _s, done) => vt.after(1e6, () => done(outcome(slot))),
    }));
    expect([r.warmupRequests, r.sent, r.ok, summarize(r.latency).count]).to.deep.equal([7, 5, 5, 5]);
  });
});

describe('measure: load phase on the real clock', () => {
  it('open loop with the real sleeper sends every request and ends at the count (no timing asserted)', async () => {
    const r = await runLoad({
      mode: 'open', concurrency: 2, pacer: () => constantPacer(2000), requests: 20,
      issue: (slot, _seq, done) => setImmediate(() => done(outcome(slot))),
    });
    expect([r.sent, r.ok, r.endReason, r.unfinished]).to.deep.equal([20, 20, 'requests', 0]);
  });
});

describe('measure: ping summary and printer', () => {
  // Probe 0 answered after probe 1 left (late); probe 1 was lost; probe 2 answered in time. Server clock = ours.
  const MS = 1e6;
  const ns = (msValue: number): bigint => BigInt(Math.round(msValue * MS));
  const wall = 1_700_000_000_000_000_000n;
  const answered = (seq: number, sentMs: number, rttMs: number, holdMs: number): Probe => {
    const t1 = wall + ns(sentMs);
    const up = (rttMs - holdMs) / 2;
    return {
      seq, status: 'OK', sent_ns: sentMs * MS, recv_ns: (sentMs + rttMs) * MS, rtt_ns: rttMs * MS, net_rtt_ns: (rttMs - holdMs) * MS, bytes_up: 10, bytes_down: 20, late: false,
      t1_unix_nanos: t1, t2_unix_nanos: t1 + ns(up), t3_unix_nanos: t1 + ns(up + holdMs), t4_unix_nanos: t1 + ns(rttMs),
    };
  };
  const run = (): ReturnType<typeof summarizePing> =>
    summarizePing({
      probes: [answered(0, 0, 2, 1), { seq: 1, status: 'DEADLINE_EXCEEDED', message: 'deadline', sent_ns: 1 * MS, bytes_up: 10, late: false, t1_unix_nanos: wall + ns(1) }, answered(2, 6, 1, 0.2)],
      sentAtNs: [0, 1 * MS, 6 * MS],
      calibration: [],
      schedule: { arrivals: 'poisson', mean_interval_ms: 3, seed: 4 },
      payloadBytes: 0,
      responseBytes: 0,
    });

  it('counts sent, received, lost and late, and lists the failures', () => {
    const r = run();
    expect(r.probes.map((p) => p.late)).to.deep.equal([true, false, false]);
    const s = r.summary;
    expect([s.sent, s.received, s.lost, s.late]).to.deep.equal([3, 2, 1, 1]);
    expect(s.loss_percent).to.be.closeTo(100 / 3, 1e-9);
    expect(s.duration_s).to.equal(0.007);
    expect(s.schedule).to.deep.equal({ arrivals: 'poisson', mean_interval_ms: 3, seed: 4 });
    expect(s.status_counts).to.deep.equal({ OK: 2, DEADLINE_EXCEEDED: 1 });
    expect(r.errors).to.deep.equal([{ message: 'DEADLINE_EXCEEDED: deadline', count: 1 }]);
    expect([s.rtt.count, s.rtt.min_ms, s.rtt.max_ms, s.net_rtt.max_ms]).to.deep.equal([2, 1, 2, 1]);
    // the loss breaks the chain: no jitter pair spans it
    expect(s.jitter.rtt.pairs).to.equal(0);
    expect(s.clock?.offset_ms).to.equal(0);
    expect(s.throughput).to.equal(undefined);
  });

  it('prints what the summary holds', () => {
    const r = run();
    expect(probeLine(r.probes[0])).to.equal('20 bytes from server: seq=0 up=10 B rtt=2.000 ms net=1.000 ms (late)');
    expect(probeLine(r.probes[1])).to.equal('seq=1 DEADLINE_EXCEEDED: deadline');
    const text = summaryText('h:1', r.summary).split('\n');
    expect(text[0]).to.equal('--- h:1 ping statistics ---');
    expect(text[1]).to.equal('3 probes sent, 2 received, 1 lost (33.3 %), 1 late, time 7 ms');
    expect(text[2]).to.equal('lost: DEADLINE_EXCEEDED ×1');
    expect(text[3]).to.equal('lost by direction: 0 upstream (never reached the server), 0 downstream (answered, reply never came back in time), 1 unknown (the server keeps no per-session counters)');
    expect(text[4]).to.equal('rtt     min/mean/p50/p90/p99/max/stddev = 1.000/1.500/1.000/2.000/2.000/2.000/0.500 ms');
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
