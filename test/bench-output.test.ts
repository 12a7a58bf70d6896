import { expect } from 'chai';
import { main } from '../src/client/cli';
import type { CallOutcome } from '../src/measure/call';
import type { LoadResult } from '../src/measure/load-phase';
import { histogramText, loadSummaryText } from '../src/measure/load-printer';
import { logBuckets } from '../src/measure/histogram';
import { fillLoadReport } from '../src/measure/load-report';
import { createRecorder } from '../src/measure/recorder';
import { environment, newReport, type RunReport } from '../src/measure/report-json';
import { compareRate } from '../src/measure/verdict';
import { startServer, type RunningServer } from '../src/server/app';

interface Frame {
  /** Intended send time, and how late it actually left, ms. */
  dueMs: number;
  lateMs: number;
  /** Actual send → response, ms. */
  serviceMs: number;
}

/** A finished open-loop run built from recorder calls alone: no clock, no timers. */
function fakeOpenRun(frames: Frame[], clientBusy = 0): LoadResult {
  const rec = createRecorder(1, true);
  const ok: CallOutcome = { slot: 0, code: 0, bytesUp: 1000, bytesDown: 100, images: 1, serverTiming: undefined, details: undefined, replica: undefined };
  for (const f of frames) {
    const sent = (f.dueMs + f.lateMs) * 1e6;
    rec.sent(0, f.dueMs * 1e6, sent, true);
    rec.ended(ok, sent + f.serviceMs * 1e6);
  }
  return { ...rec.result(), mode: 'open', unfinished: 0, elapsedNs: rec.lastEndNs(), startUnixMs: 0, clientBusy, endReason: 'duration', warmupRequests: 0 };
}

/** `n` frames at `fps`; `late(i)` says how late frame i left, `service(i)` how long it took. */
function frames(n: number, fps: number, late: (i: number) => number, service: (i: number) => number = () => 20): Frame[] {
  return Array.from({ length: n }, (_, i) => ({ dueMs: (i * 1000) / fps, lateMs: late(i), serviceMs: service(i) }));
}

/** The stream verb's reporting path (src/client/bench.ts runStream), on a fake run. */
function streamReport(r: LoadResult, fps: number, budgetMs = 200): { rep: RunReport; text: string } {
  const rep = newReport('stream', {}, environment('fake'), new Date(0));
  fillLoadReport(rep, r, { budgetMs, fps }, { fps_target: fps, window: 4 }, { offeredRate: fps, rateUnit: 'fps' });
  return { rep, text: loadSummaryText(rep, r.latency) };
}

const line = (text: string, prefix: string): string => text.split('\n').find((l) => l.startsWith(prefix)) ?? '';

describe('bench output: calls split by the replica that answered', () => {
  /** A closed-loop run where replica `b` answers every third call and is 3× slower; one error names `a`. */
  function twoReplicaRun(): LoadResult {
    const rec = createRecorder(1, true);
    const base: CallOutcome = { slot: 0, code: 0, bytesUp: 1000, bytesDown: 100, images: 1, serverTiming: undefined, details: undefined, replica: undefined };
    let t = 0;
    for (let i = 0; i < 300; i++) {
      const b = i % 3 === 2;
      rec.sent(0, t, t, false);
      t += (b ? 30 : 10) * 1e6;
      rec.ended({ ...base, replica: b ? 'server-b' : 'server-a' }, t);
    }
    rec.sent(0, t, t, false);
    rec.ended({ ...base, code: 8, images: 0, details: 'busy', replica: 'server-a' }, (t += 1e6));
    rec.sent(0, t, t, false);
    rec.ended({ ...base, code: 14, images: 0, details: 'connection reset' }, (t += 1e6)); // no replica known
    return { ...rec.result(), mode: 'closed', unfinished: 0, elapsedNs: t, startUnixMs: 0, clientBusy: 0, endReason: 'duration', warmupRequests: 0 };
  }

  it('gives each replica its share, errors and latency in --json and a line each in the text', () => {
    const r = twoReplicaRun();
    const rep = newReport('bench', {}, environment('fake'), new Date(0));
    fillLoadReport(rep, r, {});
    const s = rep.summary as { replicas?: Array<{ server_id: string; ok: number; errors: number; share: number; latency: { percentiles_ms: Record<string, number> } }> };
    expect(s.replicas?.map((x) => [x.server_id, x.ok, x.errors])).to.deep.equal([['server-a', 200, 1], ['server-b', 100, 0]]);
    expect(s.replicas![0].share).to.be.closeTo(2 / 3, 1e-9);
    expect(s.replicas![0].latency.percentiles_ms.p50).to.be.closeTo(10, 0.02);
    expect(s.replicas![1].latency.percentiles_ms.p50).to.be.closeTo(30, 0.05);
    const text = loadSummaryText(rep);
    expect(line(text, 'by replica')).to.equal('by replica (2 answered; latency ms, server total = its own mean):');
    const rows = text.split('\n').filter((l) => /^  server-[ab] /.test(l));
    expect(rows[0]).to.match(/^  server-a\s+200 OK \( 66\.7 %\)\s+1 errors  p50 10\.0\d\d /);
    expect(rows[1]).to.match(/^  server-b\s+100 OK \( 33\.3 %\)\s+0 errors  p50 30\.0\d\d /);
  });

  it('says nothing per replica when one replica (or none) answered', () => {
    const rec = createRecorder(1, true);
    rec.sent(0, 0, 0, false);
    rec.ended({ slot: 0, code: 0, bytesUp: 1, bytesDown: 1, images: 1, serverTiming: undefined, details: undefined, replica: 'only' }, 1e6);
    const rep = newReport('bench', {}, environment('fake'), new Date(0));
    fillLoadReport(rep, { ...rec.result(), mode: 'closed', unfinished: 0, elapsedNs: 1e6, startUnixMs: 0, clientBusy: 0, endReason: 'duration', warmupRequests: 0 }, {});
    expect((rep.summary as { replicas?: unknown[] }).replicas).to.have.length(1);
    expect(loadSummaryText(rep)).not.to.include('by replica');
  });
});

describe('bench/stream output: stability, late sends and the verdict agree', () => {
  it('achieved ≥ target with late sends: says the rate was still met, never "not met", and the verdict passes', () => {
    // 10 s at 10 fps, every 11th frame 3 ms late (the README's stream run): achieved 100 / 9.92 s ≥ 10 fps.
    const r = fakeOpenRun(frames(100, 10, (i) => (i % 11 === 5 ? 3 : 0)));
    const { rep, text } = streamReport(r, 10);
    expect(rep.verdict?.status).to.equal('PASS');
    expect(text).not.to.match(/not met/);
    const late = line(text, 'warning: ');
    expect(late).to.match(/^warning: 9 of 100 scheduled requests \(9\.0 %\) were sent > 1 ms late \(max 3\.0 ms\); the rate was still met \(achieved 10\.1 fps ≥ 10\.0 fps target\)/);
    // The late line and the verdict word the rate identically.
    expect(line(text, 'verdict: ')).to.include('achieved 10.1 fps ≥ 10.0 fps target');
    // A 10-s run at 10 fps has one 5-s window: stability is not judged, which is not a failure.
    const st = line(text, 'stability: ');
    expect(st).to.match(/^stability: not judged — only 1 full 5-s window; 3 are needed to judge \(run at least 15 s\)/);
    expect(st).to.include('they and the verdict cover the whole run');
    expect(st).not.to.match(/NOT/);
    expect(text.split('\n').pop()).to.match(/^verdict: PASS/);
  });

  it('a sender that falls behind: says the offered rate was not met, as the verdict does', () => {
    // Every frame leaves 25 % later than its schedule: 100 frames take ~12.4 s, about 8 fps.
    const r = fakeOpenRun(frames(100, 10, (i) => i * 25));
    const { rep, text } = streamReport(r, 10);
    expect(rep.verdict?.status).to.equal('FAIL');
    const late = line(text, 'warning: ');
    expect(late).to.match(/^warning: 99 of 100 scheduled requests \(99\.0 %\) were sent > 1 ms late \(max 2475\.0 ms\); the offered rate was not met \(achieved 8\.07 fps < 10\.0 fps target\)/);
    expect(line(text, 'verdict: ')).to.match(/^verdict: FAIL — .*achieved 8\.07 fps < 10\.0 fps target/);
    expect(text).not.to.match(/still met/);
  });

  it('stability: steady over a long even run; NOT steady after a slowdown, and then it says the verdict still covers the whole run', () => {
    const steady = streamReport(fakeOpenRun(frames(300, 10, () => 0)), 10, 1000).text;
    expect(line(steady, 'stability: ')).to.match(/^stability: steady — last 3 windows of 5 s: throughput spread 0\.0 %, latency spread 0\.0 %/);
    // From 20 s on frames take three times as long per frame.
    const slowed = streamReport(fakeOpenRun(frames(300, 10, () => 0, (i) => (i >= 200 ? 60 : 20))), 10, 1000);
    expect(slowed.rep.verdict?.status).to.equal('PASS');
    const st = line(slowed.text, 'stability: ');
    expect(st).to.match(/^stability: NOT steady — last 3 windows of 5 s: throughput spread [\d.]+ %, latency spread [\d.]+ %/);
    expect(st).to.include('they and the verdict cover the whole run');
    expect(slowed.rep.warnings.some((w) => w.startsWith('not steady'))).to.equal(true);
  });

  it('a rate within the verdict\'s 2 % slack reads "within 2 % of", not "≥"', () => {
    expect(compareRate(9.9, 10, 'fps')).to.deep.equal({ met: true, text: 'achieved 9.90 fps, within 2 % of the 10.0 fps target' });
    expect(compareRate(9.7, 10, 'fps')).to.deep.equal({ met: false, text: 'achieved 9.70 fps < 10.0 fps target' });
  });

  it('the text histogram: log-spaced buckets from min to max whose counts sum to the successful calls', () => {
    // Service times from 1 ms to 400 ms: a wide, skewed spread.
    const r = fakeOpenRun(frames(200, 20, () => 0, (i) => 1 + (i * i) / 100));
    const b = logBuckets(r.latency, { count: 10 });
    expect(b).to.have.length(10);
    expect(b.reduce((s, x) => s + x.count, 0)).to.equal(r.ok);
    expect(b[0].from_ms).to.equal(1);
    expect(b[9].to_ms).to.be.closeTo(1 + (199 * 199) / 100, 0.5);
    for (let i = 1; i < b.length; i++) {
      expect(b[i].from_ms).to.equal(b[i - 1].to_ms);
      // equal ratios, not equal widths
      expect(b[i].to_ms / b[i].from_ms).to.be.closeTo(b[0].to_ms / b[0].from_ms, 0.01);
    }
    const text = histogramText(r.latency).split('\n');
    expect(text[0]).to.equal('latency histogram (ms, log-spaced buckets, 200 successful calls):');
    const counts = text.slice(1).map((l) => Number(/\[\s*(\d+)\]/.exec(l)![1]));
    expect(counts.reduce((s, x) => s + x, 0)).to.equal(200);
    // the fullest bucket has the longest bar
    const bars = text.slice(1).map((l) => l.split('|')[1].length);
    expect(bars[counts.indexOf(Math.max(...counts))]).to.equal(Math.max(...bars));
  });

  it('in-process runs do not warn "client busy" (the client is the engine); a remote client still does', () => {
    const r = fakeOpenRun(frames(100, 10, () => 0), 0.95);
    const local = newReport('local-bench', {}, environment('in-process'), new Date(0));
    fillLoadReport(local, r, {}, {}, { offeredRate: 10, inProcess: true });
    expect(local.warnings.join('\n')).not.to.match(/client busy/);
    const remote = newReport('bench', {}, environment('fake'), new Date(0));
    fillLoadReport(remote, r, {}, {}, { offeredRate: 10 });
    expect(remote.warnings.join('\n')).to.match(/client busy 95 %/);
  });
});

describe('bench/stream output: the header against the default server (synthetic GoogLeNet)', function () {
  this.timeout(240000);
  let server: RunningServer;
  let target: string;

  before(async () => {
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', logLevel: 'error' });
    target = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.shutdown(1000);
  });

  function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(l) } };
  }

  it('bench prints target, transport, model, engine, SYNTHETIC weights, generated images and the load shape before the run, and a histogram after', async () => {
    const c = io();
    const code = await main(['bench', '--target', target, '-C', '2', '--requests', '6', '--warmup', '0'], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    const info = server.served.engine.info;
    const d = server.served.descriptor;
    expect(c.out[0]).to.equal(`bench classify → ${target} (h2, plaintext, 1 connection)`);
    expect(c.out[1]).to.equal(`  model    googlenet (${d.source}, input 224×224, normalize ${d.normalize})`);
    expect(c.out[2]).to.match(new RegExp(`^  engine   ${info.backend} \\(${info.library}.*${info.executionProvider}.*\\); batches up to \\d+`));
    if ((info.instances ?? 1) > 1) expect(c.out[2], 'the CPU sharing plan').to.include(`${info.instances} sessions × ${info.threads} thread`);
    if (info.soloThreads) expect(c.out[2]).to.include(`+ a ${info.soloThreads}-thread solo session`);
    expect(c.out[3]).to.equal(`  weights  SYNTHETIC (${d.weightsSource}) — random weights: timings are real, predictions are meaningless`);
    expect(c.out[4]).to.match(/^  images   generated noise 224×224, 4 JPEGs of [\d.]+ kB on average/);
    expect(c.out[5]).to.equal('  load     closed loop, -C 2 (2 requests in flight, the next sent as soon as a reply arrives), 6 requests after 0 s warm-up');
    expect(c.out[6]).to.match(/^closed loop: 6 OK, 0 errors/);
    const h = c.out.indexOf('latency histogram (ms, log-spaced buckets, 6 successful calls):');
    expect(h).to.be.greaterThan(6);
    const counts = c.out.slice(h + 1).filter((l) => /^\s+[\d.]+ –\s+[\d.]+\s+\[/.test(l)).map((l) => Number(/\[\s*(\d+)\]/.exec(l)![1]));
    expect(counts, c.out.join('\n')).to.have.length(10);
    expect(counts.reduce((s, x) => s + x, 0)).to.equal(6);
  });

  it('stream and --image-size: the header names the size of the generated noise and the stream\'s shape', async () => {
    const c = io();
    const code = await main(['stream', '--target', target, '--fps', '20', '--window', '3', '--frames', '4', '--warmup', '0', '--image-size', '64x48'], c.io);
    // 4: the run worked but the verdict failed (a busy machine drops frames); only the header is asserted.
    expect([0, 4], c.err.join('\n')).to.include(code);
    expect(c.out[0]).to.equal(`stream → ${target} (grpc-js, plaintext, 1 connection)`);
    expect(c.out[3]).to.match(/^  weights  SYNTHETIC/);
    expect(c.out[4]).to.match(/^  images   generated noise 64×48, 4 JPEGs/);
    expect(c.out[5]).to.equal('  load     stream at 20 fps, window 3 (a frame due while 3 are in flight is dropped), 4 frames after 0 s warm-up');
  });
});
