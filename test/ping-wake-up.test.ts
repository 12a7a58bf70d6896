/**
 * `rtinfer ping` discloses what its default interval does to the RTT (docs/decisions/0015-ping-idle-wake-up-disclosure.md):
 * the client's own timer error, warm-reference probes reported apart, a warning naming idle wake-up, and
 * --keep-warm. The figures are checked on synthetic probes; the traffic against a real in-process server,
 * by counting what it received (no timing asserts).
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { main } from '../src/client/cli';
import { H2Connection } from '../src/client/h2/connection';
import { endpointOf } from '../src/client/h2/endpoint';
import { Flag, Frame, FRAME_HEADER, frame, PREFACE } from '../src/client/h2/frames';
import { summaryText } from '../src/measure/ping-printer';
import { summarizePing, WAKE_UP_THRESHOLD, type PingResult, type Probe } from '../src/measure/ping-summary';
import { startScriptedPeer } from './helpers/h2-peer';
import { listenLoopback, type LoopbackServer } from './helpers/loopback-server';
import { suiteTempDir } from './helpers/temp-dir';
import { startTinyServer, type TinyServer } from './helpers/tiny-grpc-server';

const MS = 1e6;
const wall = 1_700_000_000_000_000_000n;

/** An answered probe sent at `sentMs` (server clock = ours, no hold time). */
function answered(seq: number, sentMs: number, rttMs: number, extra: Partial<Probe> = {}): Probe {
  const t1 = wall + BigInt(Math.round(sentMs * MS));
  const half = BigInt(Math.round((rttMs / 2) * MS));
  return {
    seq, status: 'OK', sent_ns: sentMs * MS, recv_ns: (sentMs + rttMs) * MS, rtt_ns: rttMs * MS, net_rtt_ns: rttMs * MS, bytes_up: 2, bytes_down: 2, late: false,
    t1_unix_nanos: t1, t2_unix_nanos: t1 + half, t3_unix_nanos: t1 + half, t4_unix_nanos: t1 + 2n * half, ...extra,
  };
}

/** A run at a 1 s interval: measured probes with these RTTs, and a warm reference after each with those. */
function runOf(rttsMs: number[], warmMs: number[], o: { timerErrorsMs?: number[] } = {}): PingResult {
  const probes = rttsMs.map((r, i) => answered(i, i * 1000, r, o.timerErrorsMs ? { due_ns: i * 1000 * MS, timer_error_ns: o.timerErrorsMs[i] * MS } : {}));
  const references = warmMs.map((r, i) => answered(i, i * 1000 + 30, r, { warm_reference: true }));
  return summarizePing({
    probes,
    sentAtNs: probes.map((p) => p.sent_ns),
    calibration: [],
    schedule: { arrivals: 'constant', mean_interval_ms: 1000 },
    payloadBytes: 0,
    responseBytes: 0,
    references,
    warmReference: { warm_up: 'http2-ping', lead_ms: 2 },
  });
}

describe('ping: timer error, warm reference and the idle wake-up warning (synthetic probes)', () => {
  it('summarises each probe\'s timer error (actual − scheduled send) as p50/p99/max and prints it', () => {
    const r = runOf([1, 1, 1, 1], [1, 1, 1, 1], { timerErrorsMs: [0.05, 0.02, 3, 0.1] });
    expect(r.summary.timer_error).to.deep.equal({ count: 4, p50_ms: 0.05, p99_ms: 3, max_ms: 3 });
    expect(summaryText('h:1', r.summary)).to.include('timer error (actual − scheduled send): p50 0.050 p99 3.000 max 3.000 ms (4 probes; not part of the rtt)');
    // Probes without a schedule (e.g. calibration) have none, and no line is printed.
    const none = runOf([1, 1, 1], [1, 1, 1]);
    expect(none.summary.timer_error).to.equal(undefined);
    expect(summaryText('h:1', none.summary)).not.to.include('timer error');
  });

  it('keeps warm-reference probes out of the measured figures, summarises them apart and lists them marked', () => {
    const r = runOf([16, 15, 17, 19], [1, 1.2, 0.9, 1.1]);
    const s = r.summary;
    expect([s.sent, s.received, s.rtt.count]).to.deep.equal([4, 4, 4]);
    expect(s.rtt.min_ms).to.be.closeTo(15, 0.01); // no 1 ms reference among them
    expect(s.jitter.rtt.pairs).to.equal(3);
    expect(s.warm_reference).to.deep.equal({ warm_up: 'http2-ping', lead_ms: 2, sent: 4, received: 4, rtt: { count: 4, p50_ms: 1, p99_ms: 1.2, max_ms: 1.2 } });
    expect(r.probes).to.have.length(8);
    expect(r.probes.filter((p) => p.warm_reference).map((p) => p.rtt_ns)).to.deep.equal([1, 1.2, 0.9, 1.1].map((x) => x * MS));
    expect(summaryText('h:1', s)).to.include('warm reference: rtt p50 1.000 p99 1.200 max 1.200 ms (4 of 4 extra probes, each 2 ms after an HTTP/2 PING; not in the figures above)');
  });

  it('warns of idle wake-up, with both figures and what to do, when the RTT far exceeds the warm reference', () => {
    const s = runOf([16, 15, 17, 19], [1, 1.2, 0.9, 1.1]).summary;
    expect(s.wake_up).to.deep.include({ rtt_p50_ms: 16, warm_p50_ms: 1, excess_ms: 15, excess_percent: 1500, warning: true });
    const text = summaryText('h:1', s);
    expect(text).to.include('warning: idle wake-up: rtt p50 16.000 ms at a 1000 ms interval vs 1.000 ms on a warm path (+15.000 ms, +1500 %');
    expect(text).to.match(/--interval-ms.*--keep-warm/);
  });

  it('does not warn when the excess is small in absolute or in relative terms, or the samples are too few', () => {
    // +0.4 ms: +40 % but below the absolute threshold
    expect(runOf([1.4, 1.4, 1.4], [1, 1, 1]).summary.wake_up?.warning).to.equal(false);
    // +0.9 ms on 0.1 ms: +900 % but below 1 ms
    expect(runOf([1, 1, 1], [0.1, 0.1, 0.1]).summary.wake_up?.warning).to.equal(false);
    // +5 ms on a 25 ms path: 20 %
    expect(runOf([30, 30, 30], [25, 25, 25]).summary.wake_up?.warning).to.equal(false);
    // just above both thresholds: warns
    expect(runOf([2.6, 2.6, 2.6], [1.5, 1.5, 1.5]).summary.wake_up?.warning).to.equal(true);
    for (const ok of [runOf([1.4, 1.4, 1.4], [1, 1, 1]), runOf([30, 30, 30], [25, 25, 25])]) expect(summaryText('h:1', ok.summary)).not.to.include('warning');
    // fewer than WAKE_UP_THRESHOLD.min_samples references: no verdict either way
    const few = runOf([16, 16, 16], [1, 1].slice(0, WAKE_UP_THRESHOLD.min_samples - 1));
    expect(few.summary.wake_up).to.equal(undefined);
    expect(summaryText('h:1', few.summary)).not.to.include('warning');
  });
});

describe('h2 connection: ping() is an HTTP/2 PING round trip', () => {
  it('reports the round trip when the ACK carrying its payload arrives, and undefined when the connection closes first', async () => {
    let answer = true;
    const seen: Buffer[] = [];
    const peer = await startScriptedPeer([frame(Frame.SETTINGS, 0, 0)], (f, s) => {
      if (f.type !== Frame.PING || f.flags & Flag.ACK) return;
      seen.push(f.payload);
      if (answer) s.send(frame(Frame.PING, 0, 0, Buffer.alloc(8)), frame(Frame.PING, Flag.ACK, 0, f.payload)); // its own PING first: ours is matched by payload
    });
    try {
      const ep = endpointOf({ target: `127.0.0.1:${peer.port}`, tls: false, connections: 1 });
      let closed = false;
      const c: H2Connection = await new Promise((resolve) => {
        const conn = new H2Connection(ep, { userAgent: 't', metadata: [], connectTimeoutMs: 5000 }, { ready: () => resolve(conn), unusable: () => undefined, closed: () => void (closed = true) });
      });
      const rtt = await new Promise<bigint | undefined>((r) => c.ping(r));
      expect(rtt).to.be.a('bigint');
      expect(Number(rtt)).to.be.greaterThan(0);
      answer = false;
      const unanswered = new Promise<bigint | undefined>((r) => c.ping(r));
      while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
      expect(seen[0].equals(seen[1])).to.equal(false); // each PING has its own payload
      c.close();
      expect(await unanswered).to.equal(undefined);
      expect(closed).to.equal(true);
    } finally {
      await peer.close();
    }
  });
});

/** A relay in front of `port` that counts the HTTP/2 PING frames (not ACKs) the client sends. */
async function pingCountingRelay(port: number): Promise<LoopbackServer & { pings(): number }> {
  let pings = 0;
  const relay = await listenLoopback((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    upstream.on('error', () => client.destroy());
    upstream.pipe(client);
    let buf = Buffer.alloc(0);
    let prefaceSkipped = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSkipped) {
        if (buf.length < PREFACE.length) return;
        buf = buf.subarray(PREFACE.length);
        prefaceSkipped = true;
      }
      while (buf.length >= FRAME_HEADER && buf.length >= FRAME_HEADER + buf.readUIntBE(0, 3)) {
        if (buf[3] === Frame.PING && !(buf[4] & Flag.ACK)) pings++;
        buf = buf.subarray(FRAME_HEADER + buf.readUIntBE(0, 3));
      }
    });
    client.on('close', () => upstream.destroy());
  });
  return { ...relay, pings: () => pings };
}

describe('ping: warm references and --keep-warm against a real in-process server', function () {
  this.timeout(60000);
  let server: TinyServer;
  let relay: LoopbackServer & { pings(): number };
  const tmp = suiteTempDir('rtinfer-ping-wake-');

  before(async () => {
    server = await startTinyServer(grpc.ServerCredentials.createInsecure());
  });
  after(async () => {
    await server.close();
  });
  beforeEach(async () => {
    relay = await pingCountingRelay(server.port);
  });
  afterEach(async () => {
    await relay.close();
  });

  async function ping(args: string[]): Promise<{ out: string; json: any; pingsServed: number }> {
    const json = path.join(tmp.path, `p${Math.random().toString(36).slice(2)}.json`);
    const out: string[] = [];
    const err: string[] = [];
    const before = server.pings();
    // --no-path: the per-hop PINGs alongside the probes would count with the warm-up PINGs these tests count.
    const code = await main(['ping', '-q', '--json', json, '--no-path', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code, err.join('\n')).to.equal(0);
    return { out: out.join('\n'), json: JSON.parse(fs.readFileSync(json, 'utf8')), pingsServed: server.pings() - before };
  }

  /** Waits for the relay to have seen `n` PINGs (the last may still be on its way when ping returns). */
  async function relayPings(n: number): Promise<number> {
    for (let i = 0; i < 500 && relay.pings() < n; i++) await new Promise((r) => setTimeout(r, 10));
    return relay.pings();
  }

  it('at intervals ≥ 100 ms, each probe is followed by an HTTP/2 PING and a marked warm-reference probe, kept out of the main figures', async () => {
    const r = await ping(['--target', `127.0.0.1:${relay.port}`, '-c', '3', '-i', '100']);
    const refs = r.json.probes.filter((p: Probe) => p.warm_reference);
    const measured = r.json.probes.filter((p: Probe) => !p.warm_reference);
    expect(measured.map((p: Probe) => p.seq)).to.deep.equal([0, 1, 2]);
    // A reference is skipped only when too little time would remain before the next probe.
    expect(refs.length).to.be.within(1, 3);
    for (const p of refs) expect(p).to.include({ status: 'OK' }).and.to.have.property('rtt_ns');
    // Timer error runs from the due time to the transport's send stamp, which follows the probe's own send stamp.
    for (const p of measured) expect(p.timer_error_ns).to.be.at.least((p.sent_ns as number) - (p.due_ns as number)).and.greaterThan(0);
    expect(r.json.summary).to.include({ sent: 3, received: 3, keep_warm: false });
    expect(r.json.summary.rtt.count).to.equal(3);
    expect(r.json.summary.warm_reference).to.include({ warm_up: 'http2-ping', lead_ms: 2, sent: refs.length, received: refs.length });
    expect(r.json.summary.timer_error.count).to.equal(3);
    expect(r.pingsServed).to.equal(3 + refs.length);
    // One warm-up PING before each reference (a reference can still be dropped after its warm-up if time ran short).
    expect(await relayPings(refs.length)).to.be.within(refs.length, 3);
    expect(r.out).to.match(/warm reference: rtt p50 /);
    expect(r.out).to.match(/timer error \(actual − scheduled send\): p50 /);
  });

  it('below 100 ms, with payloads or with --no-warm-reference, no reference and no extra traffic', async () => {
    for (const args of [['-i', '20'], ['-i', '100', '--no-warm-reference'], ['-i', '100', '--payload-bytes', '100', '--calibration-probes', '0']]) {
      const r = await ping(['--target', `127.0.0.1:${relay.port}`, '-c', '3', ...args]);
      expect(r.json.probes.filter((p: Probe) => p.warm_reference)).to.have.length(0);
      expect(r.json.summary.warm_reference).to.equal(undefined);
      expect(r.pingsServed).to.equal(3);
      expect(relay.pings()).to.equal(0);
      expect(r.out).not.to.match(/warm reference/);
    }
  });

  it('--keep-warm sends HTTP/2 PINGs between probes, not counted as probes, and says so in the header, summary and JSON', async () => {
    const r = await ping(['--target', `127.0.0.1:${relay.port}`, '-c', '3', '-i', '100', '--no-warm-reference', '--keep-warm']);
    const k = r.json.summary.keep_warm_traffic;
    expect(r.json.summary.keep_warm).to.equal(true);
    expect(k).to.include({ via: 'http2-ping', interval_ms: 10 });
    expect(k.sent).to.be.greaterThan(0);
    expect(await relayPings(k.sent)).to.equal(k.sent);
    expect(r.pingsServed).to.equal(3);
    expect([r.json.summary.sent, r.json.probes.length]).to.deep.equal([3, 3]);
    expect(r.out.split('\n')[0]).to.match(/; keep-warm on: an HTTP\/2 PING every 10 ms between probes \(not counted\)$/);
    expect(r.out).to.include(`keep-warm on: an HTTP/2 PING every 10 ms between probes (not counted), ${k.sent} sent`);
  });

  it('--keep-warm over grpc-js (no PING API) sends extra Ping calls instead, counted apart from the probes', async () => {
    const r = await ping(['--target', `127.0.0.1:${server.port}`, '-c', '3', '-i', '100', '--no-warm-reference', '--keep-warm', '--transport', 'grpc-js']);
    const k = r.json.summary.keep_warm_traffic;
    expect(k).to.include({ via: 'probe', interval_ms: 10 });
    expect(k.sent).to.be.greaterThan(0);
    expect(r.pingsServed).to.equal(3 + k.sent);
    expect(r.json.summary.sent).to.equal(3);
    expect(r.out.split('\n')[0]).to.match(/keep-warm on: an extra probe every 10 ms/);
  });
});
