import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../src/client/cli';
import { connect, normalizeTarget } from '../src/client/connect';
import { runPing } from '../src/client/ping';
import { grpcJsTransport } from '../src/client/unary-transport';
import { constantPacer, poissonPacer, type Pacer } from '../src/measure/pacer';
import { startServer, RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('client: target parsing', () => {
  it('accepts host:port, [v6]:port, bare hosts and URIs', () => {
    expect(normalizeTarget('localhost')).to.equal('localhost:8000');
    expect(normalizeTarget('[::1]:8000')).to.equal('[::1]:8000');
    expect(normalizeTarget('::1')).to.equal('[::1]:8000');
    expect(normalizeTarget('dns:///a.b:9')).to.equal('dns:///a.b:9');
    expect(() => normalizeTarget('a:b:c d')).to.throw(/cannot parse target/);
  });
});

/** Runs `fn` and fails if any promise rejection went unhandled meanwhile (it would crash a real run). */
async function withoutUnhandledRejections(fn: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled.map(String)).to.deep.equal([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}

describe('client: ping over a transport that throws instead of calling back', () => {
  it('every probe is recorded as failed with the error, the run resolves, no unhandled rejection', async () => {
    // grpc-js throws "Channel has been shut down" from makeUnaryRequest on a closed channel.
    const c = connect({ target: '127.0.0.1:1', tls: false, connections: 1 });
    c.close();
    await withoutUnhandledRejections(async () => {
      const r = await runPing(grpcJsTransport(c), { count: 3, intervalMs: 20, payloadBytes: 0, responseBytes: 0, calibrationProbes: 0 });
      expect(r.summary).to.include({ sent: 3, received: 0 });
      expect(r.summary.status_counts).to.deep.equal({ INTERNAL: 3 });
      expect(r.errors).to.deep.equal([{ message: 'INTERNAL: the transport could not send the call: Channel has been shut down', count: 3 }]);
    });
  });
});

describe('client: a failed connection whose diagnosis throws', function () {
  // The only bound: before, ready() never settled and the run hung.
  this.timeout(60_000);

  it('grpc-js with --tls to port 99999 (the probe\'s tls.connect throws): ready() still rejects, exit 1 naming UNAVAILABLE, no unhandled rejection', async () => {
    await withoutUnhandledRejections(async () => {
      const c = io();
      const code = await main(['ping', '--transport', 'grpc-js', '--tls', '--target', '127.0.0.1:99999', '--count', '1'], c.io);
      expect(code).to.equal(1);
      expect(c.err.join('\n')).to.match(/UNAVAILABLE: could not connect to 127\.0\.0\.1:99999/);
    });
  });
});

describe('client: every verb end to end against an in-process server', function () {
  this.timeout(120000);
  let server: RunningServer;
  let target: string;
  let cat: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtinfer-client-'));

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    cat = sharedFixture(this, 'images/chelsea.jpg');
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model, normalize: 'signed', logLevel: 'warn' });
    target = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.shutdown(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ping prints one line per probe and a summary; --json has the documented shape', async () => {
    const c = io();
    const json = path.join(dir, 'ping.json');
    const code = await main(['ping', '--target', target, '--count', '8', '--interval-ms', '20', '--json', json], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    expect(c.out.filter((l) => /seq=\d+ .*rtt=/.test(l))).to.have.length(8);
    const text = c.out.join('\n');
    for (const re of [/8 probes sent, 8 received, 0 lost/, /rtt +min\/mean\/p50\/p90\/p99\/max\/stddev = /, /RFC 3550/, /mean \|ΔRTT\|/, /clock offset/, /one-way delay/]) expect(text).to.match(re);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep).to.include.keys('tool', 'format_version', 'date', 'verb', 'settings', 'environment', 'summary', 'histogram', 'series', 'status_counts', 'errors', 'probes');
    expect(rep.tool.name).to.equal('rtinfer');
    expect(rep.environment).to.include.keys('node', 'os_release', 'cpus', 'hostname', 'target');
    expect(rep.summary.rtt.percentiles_ms).to.include.keys('p50', 'p90', 'p99');
    expect(rep.summary.rtt.min_ms).to.be.greaterThan(0);
    expect(rep.summary.rtt.percentiles_ms.p99).to.be.at.most(rep.summary.rtt.max_ms);
    expect(rep.summary.jitter.rtt).to.include.keys('rfc3550_ms', 'mean_abs_ipdv_ms');
    // same host: the server's wall clock is ours, so the offset estimate must be within its own error bound (+1 ms slack)
    expect(Math.abs(rep.summary.clock.offset_ms)).to.be.at.most(rep.summary.clock.error_bound_ms + 1);
    expect(rep.probes).to.have.length(8);
    expect(rep.status_counts).to.deep.equal({ OK: 8 });
  });

  it('ping --warmup N sends N probes on the same schedule first and reports only the measured ones', async () => {
    const c = io();
    const json = path.join(dir, 'ping-warm.json');
    const t0 = Date.now();
    const code = await main(['ping', '--target', target, '--count', '3', '--interval-ms', '50', '--warmup', '4', '-q', '--json', json], c.io);
    const ms = Date.now() - t0;
    expect(code, c.err.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.probes.map((p: { seq: number }) => p.seq)).to.deep.equal([0, 1, 2]);
    expect(rep.summary.sent).to.equal(3);
    expect(rep.settings.warmup).to.equal(4);
    // 4 warm-up probes 50 ms apart, then 3 measured ones: at least 3 + 2 gaps of 50 ms.
    expect(ms).to.be.at.least(250);
    const bad = io();
    expect(await main(['ping', '--target', target, '--warmup', '1.5'], bad.io)).to.equal(2);
    expect(bad.err.join('\n')).to.match(/--warmup must be a whole number/);
  });

  it('ping --arrivals poisson: exponential gaps with the requested mean, reproducible from the reported seed', async () => {
    // Asserted on the schedule each probe reports (due_ns), not on when the busy machine let it leave:
    // how closely real sends follow the schedule is the fidelity suite's business.
    const probe = async (args: string[]): Promise<{ due: number[]; sent: number[]; schedule: { arrivals: string; mean_interval_ms: number; seed?: number } }> => {
      const json = path.join(dir, `ping-arr-${args.join('')}.json`);
      const c = io();
      expect(await main(['ping', '--target', target, '--count', '150', '--interval-ms', '3', '-q', '--json', json, ...args], c.io), c.err.join('\n')).to.equal(0);
      const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
      const probes: Array<{ due_ns: number; sent_ns: number }> = rep.probes;
      return { due: probes.map((p) => p.due_ns), sent: probes.map((p) => p.sent_ns), schedule: rep.summary.schedule };
    };
    const scheduleOf = (pacer: Pacer): number[] => Array.from({ length: 150 }, () => Math.round(pacer.next()));
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cv = (xs: number[]): number => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / xs.length) / mean(xs);

    // No --seed: ping picks one and reports it, and that seed regenerates the run's schedule exactly.
    const p = await probe(['--arrivals', 'poisson']);
    expect(p.schedule).to.include({ arrivals: 'poisson', mean_interval_ms: 3 });
    expect(p.schedule.seed).to.be.a('number');
    expect(p.due).to.deep.equal(scheduleOf(poissonPacer(1000 / 3, p.schedule.seed)));
    // A probe may leave late on a busy machine, never before its time (1 µs: ms↔ns rounding).
    p.sent.forEach((s, i) => expect(s, `probe ${i}`).to.be.at.least(p.due[i] - 1000));

    // --seed fixes the schedule; its 149 gaps are exponential with mean 3 ms (mean within ±25 %, about three
    // standard errors; coefficient of variation ≈ 1). A fixed seed, so this cannot flake.
    const s = await probe(['--arrivals', 'poisson', '--seed', '11']);
    expect(s.schedule).to.deep.equal({ arrivals: 'poisson', mean_interval_ms: 3, seed: 11 });
    expect(s.due).to.deep.equal(scheduleOf(poissonPacer(1000 / 3, 11)));
    const gaps = s.due.slice(1).map((t, i) => (t - s.due[i]) / 1e6);
    expect(mean(gaps)).to.be.within(2.25, 3.75);
    expect(cv(gaps)).to.be.within(0.7, 1.3);

    // The default: a probe every 3 ms.
    const k = await probe([]);
    expect(k.schedule).to.deep.equal({ arrivals: 'constant', mean_interval_ms: 3 });
    expect(k.due).to.deep.equal(scheduleOf(constantPacer(1000 / 3)));
  });

  it('ping with payloads reports up/down throughput', async () => {
    const c = io();
    const code = await main(['ping', '--target', target, '--count', '5', '--interval-ms', '20', '--payload-bytes', '200000', '--response-bytes', '200000', '--calibration-probes', '5', '-q'], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    expect(c.out.join('\n')).to.match(/throughput: up [\d.]+ MB\/s \(\d+ B\), down [\d.]+ MB\/s/);
  });

  it('classify prints the top-k table and the server breakdown (the cat is a cat)', async () => {
    const c = io();
    const code = await main(['classify', cat, '--target', target, '--top-k', '3'], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    const text = c.out.join('\n');
    expect(text).to.match(/chelsea\.jpg/);
    expect(text.split('\n')[2]).to.match(/cat/i); // rank 1 line
    expect(text).to.match(/end-to-end [\d.]+ ms; server [\d.]+ ms = queue/);
  });

  it('classify of a broken image exits non-zero with the status name', async () => {
    const bad = path.join(dir, 'junk.jpg');
    fs.writeFileSync(bad, Buffer.from('not an image at all'));
    const c = io();
    expect(await main(['classify', bad, '--target', target], c.io)).to.equal(1);
    expect(c.err.join('\n')).to.match(/INVALID_ARGUMENT/);
  });

  it('bench closed loop: throughput, percentiles, server breakdown, status counts, JSON; a budget it meets → PASS, exit 0', async () => {
    const c = io();
    const json = path.join(dir, 'bench.json');
    // A 10-minute budget: no in-process classify takes that long, so the verdict can only be PASS.
    const code = await main(['bench', '--target', target, '--images', cat, '--concurrency', '2', '--requests', '16', '--warmup', '0', '--budget-ms', '600000', '--json', json], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    expect(c.out.join('\n')).to.match(/verdict: PASS \(ok: p99 [\d.]+ ms ≤ 600000 ms budget; no errors in 16\)/);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.summary.ok).to.equal(16);
    expect(rep.summary.throughput_rps).to.be.greaterThan(0);
    expect(rep.summary.mb_per_s_up).to.be.greaterThan(0);
    expect(rep.summary.server_timing.count).to.equal(16);
    expect(rep.summary.server_timing.inference_ms).to.be.greaterThan(0);
    expect(rep.status_counts).to.deep.equal({ OK: 16 });
    expect(rep.verdict).to.deep.include({ status: 'PASS', reasons: [] });
    expect(rep.histogram.buckets.reduce((s: number, b: { count: number }) => s + b.count, 0)).to.equal(16);
    expect(c.out.join('\n')).to.match(/client-side overhead/);
  });

  it('bench open loop with a budget gives a verdict and exits 4 when it fails', async () => {
    const c = io();
    const code = await main(['bench', '--target', target, '--rpc', 'ping', '--rate', '100', '--duration', '1', '--warmup', '0', '--budget-ms', '0.001'], c.io);
    expect(c.out.join('\n')).to.match(/verdict: FAIL — p99 [\d.]+ ms > 0\.00 ms budget/);
    expect(code).to.equal(4);
  });

  it('bench --sweep prints a table and the knee', async () => {
    const c = io();
    const code = await main(['bench', '--target', target, '--rpc', 'ping', '--sweep', '1,2', '--duration', '0.5', '--warmup', '0'], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    expect(c.out.join('\n')).to.match(/concurrency +req\/s[\s\S]*knee: concurrency \d/);
  });

  it('stream at --fps with a window reports achieved fps, drops and a verdict; a budget no call can meet → FAIL, exit 4', async () => {
    const c = io();
    const json = path.join(dir, 'stream.json');
    // 1 µs: no classify answers that fast, so the latency check fails whatever the machine's load (the rate
    // and drop checks may fail too; the verdict is FAIL either way).
    const code = await main(['stream', '--target', target, '--images', cat, '--fps', '10', '--window', '4', '--duration', '1.5', '--warmup', '0', '--budget-ms', '0.001', '--json', json], c.io);
    const text = c.out.join('\n');
    const frames = /frames: (\d+) due at 10 fps, (\d+) sent, (\d+) dropped/.exec(text);
    expect(frames, text).to.not.equal(null);
    const [due, sent, dropped] = frames!.slice(1).map(Number);
    // Every due frame is either sent or dropped; how many are dropped depends on the machine's speed.
    expect(sent + dropped).to.equal(due);
    expect(text).to.match(/verdict: FAIL — p99 [\d.]+ ms > 0\.00 ms budget/);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.summary).to.include({ dropped, fps_target: 10 });
    expect(rep.summary.ok).to.be.within(1, sent);
    expect(rep.summary.achieved_fps).to.be.greaterThan(0);
    expect(rep.verdict.status).to.equal('FAIL');
    expect(code).to.equal(4);
  });

  it('usage errors exit 2; an unreachable server exits 1 naming UNAVAILABLE', async () => {
    const a = io();
    expect(await main(['bench', '--target', target, '--sweep', 'x'], a.io)).to.equal(2);
    expect(a.err.join('\n')).to.match(/usage error/);
    const b = io();
    expect(await main(['ping', '--target', '127.0.0.1:1', '--count', '1'], b.io)).to.equal(1);
    expect(b.err.join('\n')).to.match(/UNAVAILABLE/);
  });
});
