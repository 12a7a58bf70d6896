/**
 * Where the time goes on the path (issue: per-hop latency, connection set-up, loss by direction):
 * - unit: the edge header's parsing, PING pairing, the decomposition arithmetic and its waterfall line,
 *   the loss attribution from scripted server counters, the server's per-session counter store, and the
 *   connection set-up summary;
 * - an edge stand-in: a scripted HTTP/2 peer that answers Ping with x-envoy-upstream-service-time, so the
 *   header travels through the real transport into `summary.path`;
 * - direct to the real server: no edge detected, PINGs on the probes' own connection, counters per session,
 *   --new-connection-every, and bench's waterfall.
 * No figure here is judged against the wall clock: the accuracy of the PING RTT is test/fidelity/hops.fidelity.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { main } from '../src/client/cli';
import { Flag, Frame, frame, settingsFrame } from '../src/client/h2/frames';
import { PingRequest, PingResponse } from '../src/gen/inference/v1/inference';
import { attributeLoss, type SessionCall } from '../src/measure/loss-direction';
import { createPathRecorder } from '../src/measure/path';
import { pathText, pathWarnings, waterfallLine } from '../src/measure/path-printer';
import { pairNearest } from '../src/measure/ping-pairing';
import { parseUpstreamTime } from '../src/measure/upstream-time';
import { setupText, summarizeSetups } from '../src/measure/connection-setup';
import { createPingSessions, sessionIdProblem } from '../src/server/ping-sessions';
import { mobilenetServer } from './helpers/mobilenet-server';
import { grpcMessage, headerBlock, startScriptedPeer, type ScriptedPeer } from './helpers/h2-peer';
import { suiteTempDir } from './helpers/temp-dir';
import { sharedFixture } from './helpers/fixtures';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { startTinyServer, type TinyServer } from './helpers/tiny-grpc-server';
import { serverCredentials } from '../src/server/tls';
import type { PingSummary } from '../src/measure/ping-summary';
import { chartsFor } from '../src/measure/charts';
import { newReport, type Environment } from '../src/measure/report-json';

const MS = 1e6;

describe('hops: the edge header x-envoy-upstream-service-time', () => {
  it('reads a whole or decimal number of ms, says absent without it, and never takes garbage for a time', () => {
    expect(parseUpstreamTime('12')).to.deep.equal({ kind: 'ms', ms: 12 });
    expect(parseUpstreamTime(' 7 ')).to.deep.equal({ kind: 'ms', ms: 7 });
    expect(parseUpstreamTime('0')).to.deep.equal({ kind: 'ms', ms: 0 });
    expect(parseUpstreamTime('3.5')).to.deep.equal({ kind: 'ms', ms: 3.5 });
    expect(parseUpstreamTime(undefined)).to.deep.equal({ kind: 'absent' });
    for (const bad of ['', 'abc', '-1', '1e3', '12ms', '12, 13', 'NaN', '999999999999']) expect(parseUpstreamTime(bad).kind, bad).to.equal('garbage');
  });
});

describe('hops: pairing each call with the nearest PING of its connection', () => {
  it('takes the nearest answered PING on the same connection; ties go to the earlier; none → NaN', () => {
    const tracks = new Map([
      [0, { atNs: [0, 100, 200], rttNs: [5, NaN, 7] }],
      [1, { atNs: [50], rttNs: [9] }],
    ]);
    const p = pairNearest([10, 100, 150, 190, 60, 10], [0, 0, 0, 0, 1, 2], tracks);
    // call at 100: the PING sent with it went unanswered, so the nearest answered ones (0 and 200) tie → 0.
    expect([...p.rttNs]).to.deep.equal([5, 5, 7, 7, 9, NaN]);
    expect([...p.gapNs]).to.deep.equal([10, 100, 50, 10, 10, NaN]);
  });
});

describe('hops: the decomposition arithmetic', () => {
  it('through an edge: client→edge = PING, edge→server = header − server, other = e2e − PING − header', () => {
    const rec = createPathRecorder();
    const timing = { queueNanos: 1n * BigInt(MS), decodeNanos: 4n * BigInt(MS), preprocessNanos: 0n, inferenceNanos: 18n * BigInt(MS), postprocessNanos: 0n, totalNanos: 23n * BigInt(MS), batchSize: 1 };
    rec.ping(0, 0, 1.2 * MS);
    rec.call(10, 40 * MS, 0, '34', 23 * MS, timing, undefined);
    const s = rec.summary('same-connection');
    expect(s).to.include({ edge_detected: true, edge_time_per_call: true, calls: 1, pings_via: 'same-connection' });
    expect(s.client_edge_rtt_ms!.percentiles_ms.p50).to.equal(1.2);
    expect(s.edge_upstream_ms!.percentiles_ms.p50).to.equal(34);
    expect(s.edge_server_network_ms!.percentiles_ms.p50).to.equal(11);
    expect(s.server_ms!.percentiles_ms.p50).to.equal(23);
    expect(s.unexplained_ms!.percentiles_ms.p50).to.equal(4.8);
    expect(s.server_stages_ms!.inference.percentiles_ms.p50).to.equal(18);
    expect(s.negative_residual).to.deep.equal({ count: 0, beyond_resolution: 0, max_ms: 0 });
    expect(waterfallLine(s, 'p50')).to.equal('path p50: client→edge 1.20 | edge→server 11.00 | server 23.00 (queue 1.00 decode 4.00 infer 18.00) | other 4.80 ms');
  });

  it('direct: no edge detected, other = e2e − PING − server; absent figures are null, not zero', () => {
    const rec = createPathRecorder();
    rec.ping(0, 0, 0.2 * MS);
    rec.call(0, 0.3 * MS, 0, undefined, 0.05 * MS, undefined, undefined);
    const s = rec.summary('same-connection');
    expect(s).to.include({ edge_detected: false, calls: 1 });
    expect(s.edge_header).to.deep.equal({ present: 0, absent: 1, garbage: 0 });
    expect(s.edge_upstream_ms).to.equal(null);
    expect(s.edge_server_network_ms).to.equal(null);
    expect(s.unexplained_ms!.percentiles_ms.p50).to.equal(0.05);
    expect(waterfallLine(s, 'p50')).to.equal('path p50: client↔server 0.20 | server 0.05 | other 0.05 ms');
    expect(pathText(s)[2]).to.match(/^path: no edge detected .*1 of 1 HTTP\/2 PINGs answered on the calls' own connection, 1 of 1 calls paired/);
  });

  it('a residual below zero is clamped, counted, and flagged only beyond the header resolution', () => {
    const rec = createPathRecorder();
    rec.ping(0, 0, 2 * MS);
    rec.call(0, 20 * MS, 0, '18.5', 10 * MS, undefined, undefined); // −0.5 ms: within the 1 ms resolution
    rec.call(1, 20 * MS, 0, '21', 10 * MS, undefined, undefined); // −3 ms: beyond it
    rec.call(2, 20 * MS, 0, '5', 10 * MS, undefined, undefined); // header below the server's own total by 5 ms
    const s = rec.summary('same-connection');
    expect(s.negative_residual).to.deep.equal({ count: 2, beyond_resolution: 1, max_ms: 3 });
    expect(s.negative_edge_server).to.deep.equal({ count: 1, max_ms: 5 });
    expect(s.unexplained_ms!.min_ms).to.equal(0.001); // clamped to 0 (the histogram's 1 µs floor)
    const w = pathWarnings(s);
    expect(w).to.have.length(2);
    expect(w[0]).to.match(/^path: for 1 of 3 calls the hops add up to more than the call took \(by up to 3\.00 ms, beyond the 1 ms header resolution\)/);
  });

  it('garbage headers are counted apart and detect no edge', () => {
    const rec = createPathRecorder();
    rec.call(0, 1 * MS, 0, 'soon', 0.1 * MS, undefined, undefined);
    const s = rec.summary('separate-connection');
    expect(s).to.include({ edge_detected: false });
    expect(s.edge_header).to.deep.equal({ present: 0, absent: 0, garbage: 1 });
    expect(s.client_edge_rtt_ms).to.equal(null);
    expect(pathText(s).join('\n')).to.match(/1 responses had an unreadable x-envoy-upstream-service-time/);
  });

  it('splits server and edge→server by replica when several server_ids answered', () => {
    const rec = createPathRecorder();
    rec.ping(0, 0, 1 * MS);
    for (let i = 0; i < 4; i++) rec.call(i, 30 * MS, 0, '20', 15 * MS, undefined, 'a');
    for (let i = 0; i < 4; i++) rec.call(i, 60 * MS, 0, '50', 15 * MS, undefined, 'b');
    const s = rec.summary('same-connection');
    expect(s.replicas!.map((r) => [r.server_id, r.count, r.edge_server_network_ms!.percentiles_ms.p50])).to.deep.equal([
      ['a', 4, 5],
      ['b', 4, 35],
    ]);
    expect(pathText(s).filter((l) => l.startsWith('path replica'))).to.deep.equal([
      'path replica a: 4 calls, server p50 15.00 p99 15.00 ms, edge→server p50 5.00 p99 5.00 ms',
      'path replica b: 4 calls, server p50 15.00 p99 15.00 ms, edge→server p50 35.00 p99 35.00 ms',
    ]);
    expect(createPathRecorder().summary('same-connection').replicas).to.equal(undefined);
  });

  it('a stream announces the edge once: edge detected, but no per-frame upstream time', () => {
    const rec = createPathRecorder();
    rec.streamHeaders('3');
    rec.call(0, 30 * MS, 0, undefined, 20 * MS, undefined, undefined);
    const s = rec.summary('separate-connection');
    expect(s).to.include({ edge_detected: true, edge_time_per_call: false });
    expect(pathText(s)[2]).to.match(/edge→server is inside "other"/);
  });

  it('gives each hop per second of the run', () => {
    const rec = createPathRecorder();
    rec.ping(0, 0, 1 * MS);
    rec.call(0.5e9, 5 * MS, 0, undefined, 2 * MS, undefined, undefined);
    rec.call(2.5e9, 9 * MS, 0, undefined, 4 * MS, undefined, undefined);
    expect(rec.summary('same-connection').series.map((p) => [p.t_s, p.client_edge_rtt_p50_ms, p.server_p50_ms, p.unexplained_p50_ms])).to.deep.equal([
      [0, 1, 2, 2],
      [2, 1, 4, 4],
    ]);
  });
});

describe('hops: report charts', () => {
  it('a run with summary.path gets the stacked hops at p50 and p99 and each hop over time; one without gets neither', () => {
    const rec = createPathRecorder();
    rec.ping(0, 0, 1 * MS);
    rec.call(0, 5 * MS, 0, undefined, 2 * MS, undefined, undefined);
    const report = newReport('ping', {}, { target: 'x' } as unknown as Environment, new Date(0));
    report.summary = { path: rec.summary('same-connection') };
    const charts = chartsFor([{ report, file: 'a.json' }]);
    const hops = charts.find((c) => c.id === 'path-hops')!;
    const bars = (hops.spec.data as { values: Array<{ bar: string; hop: string; ms: number }> }).values;
    // No edge: the edge→server hop is left out, not drawn as zero.
    expect(bars.filter((b) => b.bar === 'p50').map((b) => [b.hop, b.ms])).to.deep.equal([
      ['client↔edge RTT', 1],
      ['server', 2],
      ['other (unexplained)', 2],
    ]);
    expect(charts.map((c) => c.id)).to.include('path-over-time');
    const plain = newReport('ping', {}, { target: 'x' } as unknown as Environment, new Date(0));
    expect(chartsFor([{ report: plain, file: 'b.json' }]).map((c) => c.id)).to.not.include('path-hops');
  });
});

describe('hops: lost probes split by direction from the server counters', () => {
  const ok = (received: number, serverId?: string): SessionCall => ({ answered: true, received, serverId, counted: true });
  const lost = (counted = true): SessionCall => ({ answered: false, counted });

  it('counter up by one: the lost probes between never reached the server (upstream)', () => {
    expect(attributeLoss([ok(1), lost(), lost(), ok(2)])).to.deep.equal({ upstream: 2, downstream: 0, unknown: 0 });
  });
  it('counter up by all of them: they reached it and their replies were lost (downstream)', () => {
    expect(attributeLoss([ok(1), lost(), lost(), ok(4)])).to.deep.equal({ upstream: 0, downstream: 2, unknown: 0 });
  });
  it('some of each in one stretch: both counts exact', () => {
    expect(attributeLoss([ok(1), lost(), lost(), lost(), ok(3)])).to.deep.equal({ upstream: 2, downstream: 1, unknown: 0 });
  });
  it('losses before the first reply count from a zero counter (the session starts with the run)', () => {
    expect(attributeLoss([lost(), ok(2), lost(), ok(3)])).to.deep.equal({ upstream: 1, downstream: 1, unknown: 0 });
  });
  it('losses after the last reply, counters that do not fit, and mixed stretches with uncounted calls are unknown', () => {
    expect(attributeLoss([ok(1), lost()])).to.deep.equal({ upstream: 0, downstream: 0, unknown: 1, unknown_reason: 'no reply after them carried the counters' });
    expect(attributeLoss([ok(5), lost(), ok(2)]).unknown).to.equal(1); // the server forgot the session
    expect(attributeLoss([ok(1), lost(), lost(false), ok(3)])).to.deep.equal({ upstream: 0, downstream: 0, unknown: 1, unknown_reason: 'both kinds of loss in a stretch that also held uncounted calls' });
    // Uncounted calls (warm-up, references) still move the counter; a pure stretch still attributes.
    expect(attributeLoss([ok(1), lost(), lost(false), ok(2)])).to.deep.equal({ upstream: 1, downstream: 0, unknown: 0 });
  });
  it('several servers, each counting only what reached it: totals before the earliest last reply, the rest unknown', () => {
    // a answers 1 and 3 with counters 1 and 3: one call reached a and its reply was lost; b saw only its own.
    const calls = [ok(1, 'a'), lost(), lost(), ok(1, 'b'), ok(3, 'a'), lost(), ok(2, 'b')];
    // T = 4 (a's last reply); the lost call at 5 comes after it; b's first reply at or after T is 6.
    expect(attributeLoss(calls)).to.deep.equal({ upstream: 0, downstream: 0, unknown: 3, unknown_reason: "calls were lost while the servers' counters were being read; after the last reply of one of the 2 servers (each counts only what reached it)" });
    expect(attributeLoss([ok(1, 'a'), lost(), lost(), ok(1, 'b'), ok(3, 'a'), ok(2, 'b')])).to.deep.equal({ upstream: 1, downstream: 1, unknown: 0 });
    expect(attributeLoss([ok(1, 'a'), lost(), lost(), ok(1, 'b'), ok(2, 'a'), ok(2, 'b')])).to.deep.equal({ upstream: 2, downstream: 0, unknown: 0 });
  });

  it('a call the transport never wrote (no connection) is upstream, whatever the counters, even after the last reply', () => {
    const unsent: SessionCall = { answered: false, counted: true, neverSent: true };
    expect(attributeLoss([ok(1), unsent, lost(), ok(3), unsent])).to.deep.equal({ upstream: 2, downstream: 1, unknown: 0 });
    expect(attributeLoss([ok(0), unsent]).upstream).to.equal(1);
  });

  it('a server without counters leaves every loss unknown', () => {
    expect(attributeLoss([ok(0), lost(), ok(0)]).unknown_reason).to.equal('the server keeps no per-session counters');
    // Two servers: the first lost call is before the earliest of their last replies, so it is judged by totals.
    expect(attributeLoss([ok(1, 'a'), lost(), ok(1, 'b'), ok(2, 'a')])).to.deep.equal({ upstream: 1, downstream: 0, unknown: 0 });
    expect(attributeLoss([ok(1), ok(2)])).to.deep.equal({ upstream: 0, downstream: 0, unknown: 0 });
  });
});

describe('hops: the server keeps per-session Ping counters, bounded', () => {
  it('counts each session apart: one session never sees another\'s counts', () => {
    const s = createPingSessions();
    expect(s.count('a'.repeat(22), 0n)).to.deep.equal({ received: 1n, highestSeq: 0n });
    expect(s.count('b'.repeat(22), 9n)).to.deep.equal({ received: 1n, highestSeq: 9n });
    expect(s.count('a'.repeat(22), 4n)).to.deep.equal({ received: 2n, highestSeq: 4n });
    expect(s.count('a'.repeat(22), 2n)).to.deep.equal({ received: 3n, highestSeq: 4n });
  });
  it('evicts the least recently used session beyond capacity, and sessions idle too long', () => {
    let now = 0;
    const s = createPingSessions(2, 1000, () => now);
    s.count('s1'.repeat(8), 1n);
    s.count('s2'.repeat(8), 1n);
    s.count('s1'.repeat(8), 2n); // s1 used last: s2 is the one to go
    s.count('s3'.repeat(8), 1n);
    expect(s.size()).to.equal(2);
    expect(s.count('s2'.repeat(8), 5n).received).to.equal(1n); // started again
    now = 5000;
    s.count('s4'.repeat(8), 1n);
    expect(s.size()).to.equal(1); // every other session was idle for more than 1 s
  });
  it('refuses a malformed session id with a clear reason', () => {
    expect(sessionIdProblem('x'.repeat(22))).to.equal(undefined);
    expect(sessionIdProblem('short')).to.match(/rtinfer-session must be 16 to 64 characters/);
    expect(sessionIdProblem('a b'.repeat(8))).to.match(/rtinfer-session/);
    expect(sessionIdProblem('z'.repeat(65))).to.match(/got 65 characters/);
  });
});

describe('hops: connection set-up summary', () => {
  it('gives curl-style cumulative figures, leaving out what did not happen (no DNS for an address, no TLS in plaintext)', () => {
    const s = summarizeSetups([
      { index: 0, at_s: 0, dns_ms: null, connect_ms: 0.2, tls_ms: null, settings_ms: 0.9 },
      { index: 1, at_s: 1, dns_ms: null, connect_ms: 0.4, tls_ms: null, settings_ms: 1.1 },
    ])!;
    expect(s.dns_ms).to.equal(null);
    expect(s.tls_ms).to.equal(null);
    expect(s.connect_ms).to.deep.equal({ count: 2, p50_ms: 0.2, p99_ms: 0.4, max_ms: 0.4 });
    expect(setupText(s)).to.equal("connection set-up (2 connections, ms from the attempt's start, as curl's time_*): tcp p50 0.200 p99 0.400 | first SETTINGS p50 0.900 p99 1.100 ms");
    expect(summarizeSetups([])).to.equal(undefined);
  });
});

describe('hops: through an edge stand-in that sets x-envoy-upstream-service-time', () => {
  const tmp = suiteTempDir('rtinfer-hops-');
  let peer: ScriptedPeer;
  let header = '7';
  before(async () => {
    // Answers every call with a PingResponse whose hold time is 2 ms, and the edge's header; ACKs PINGs.
    const buf = new Map<number, Buffer[]>();
    peer = await startScriptedPeer([settingsFrame([])], (f, p) => {
      if (f.type === Frame.PING && !(f.flags & Flag.ACK)) return p.send(frame(Frame.PING, Flag.ACK, 0, f.payload));
      if (f.type === Frame.DATA) buf.set(f.streamId, [...(buf.get(f.streamId) ?? []), f.payload]);
      if ((f.type === Frame.DATA || f.type === Frame.HEADERS) && f.flags & Flag.END_STREAM) {
        const body = Buffer.concat(buf.get(f.streamId) ?? []);
        buf.delete(f.streamId);
        const seq = body.length > 5 ? PingRequest.decode(body.subarray(5)).seq : 0n;
        const res = PingResponse.encode(PingResponse.fromPartial({ seq, serverReceiveUnixNanos: 1_000_000_000n, serverSendUnixNanos: 1_002_000_000n, sessionPingsReceived: seq + 1n, sessionHighestSeq: seq, serverId: 'edge-test' })).finish();
        p.send(
          frame(Frame.HEADERS, Flag.END_HEADERS, f.streamId, headerBlock([[':status', '200'], ['content-type', 'application/grpc'], ['x-envoy-upstream-service-time', header]])),
          frame(Frame.DATA, 0, f.streamId, grpcMessage(Buffer.from(res))),
          frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, f.streamId, headerBlock([['grpc-status', '0']])),
        );
      }
    });
  });
  after(async () => {
    await peer.close();
  });

  async function ping(args: string[]): Promise<any> {
    const json = path.join(tmp.path, `p${Math.random().toString(36).slice(2)}.json`);
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['ping', '-t', `127.0.0.1:${peer.port}`, '-q', '-i', '20', '--json', json, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code, err.join('\n')).to.equal(0);
    return { out: out.join('\n'), json: JSON.parse(fs.readFileSync(json, 'utf8')) };
  }

  it('detects the edge, takes its upstream time and derives edge→server = header − server hold time', async () => {
    header = '7';
    const r = await ping(['-c', '5']);
    const p = r.json.summary.path;
    expect(p).to.include({ edge_detected: true, pings_via: 'same-connection', calls: 5 });
    expect(p.edge_header).to.deep.equal({ present: 5, absent: 0, garbage: 0 });
    expect(p.edge_upstream_ms.percentiles_ms.p50).to.equal(7);
    expect(p.server_ms.percentiles_ms.p50).to.equal(2);
    expect(p.edge_server_network_ms.percentiles_ms.p50).to.equal(5);
    expect(p.client_edge_rtt_ms.count).to.equal(5);
    expect(r.out).to.match(/^path p50: client→edge [\d.]+ \| edge→server 5\.00 \| server 2\.00 \| other [\d.]+ ms$/m);
    expect(r.json.probes[0]).to.include({ upstream_time: '7', server_id: 'edge-test', session_pings_received: 1 });
  });

  it('a garbage header is counted, not used: no edge detected', async () => {
    header = 'fast';
    const r = await ping(['-c', '3']);
    expect(r.json.summary.path).to.include({ edge_detected: false });
    expect(r.json.summary.path.edge_header).to.deep.equal({ present: 0, absent: 0, garbage: 3 });
    expect(r.out).to.match(/3 responses had an unreadable x-envoy-upstream-service-time/);
  });
});

describe('hops: connection set-up over TLS to a name', function () {
  let certs: DevCerts;
  let server: TinyServer;
  before(async () => {
    certs = makeDevCerts();
    server = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey }));
  });
  after(async () => {
    await server?.close();
    certs?.remove();
  });

  it('a name is looked up, then TCP, TLS and the first SETTINGS follow in that order', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['ping', '-t', `localhost:${server.port}`, '--ca', certs.ca, '-c', '2', '-i', '20', '-q', '--json', '-'], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code, err.join('\n')).to.equal(0);
    const s = JSON.parse(out.join('\n')).summary as PingSummary;
    const c = s.connections![0];
    expect(c.dns_ms).to.be.a('number');
    expect(c.tls_ms).to.be.a('number');
    expect(c.connect_ms).to.be.at.least(c.dns_ms!);
    expect(c.tls_ms).to.be.at.least(c.connect_ms);
    expect(c.settings_ms).to.be.at.least(c.tls_ms!);
    expect(err.join('\n')).to.match(/^connection set-up \(1 connection, ms from the attempt's start, as curl's time_\*\): dns [\d.]+ \| tcp [\d.]+ \| tls [\d.]+ \| first SETTINGS [\d.]+ ms$/m);
  });
});

describe('hops: direct to the real server', function () {
  const live = mobilenetServer({ logLevel: 'error' });
  const tmp = suiteTempDir('rtinfer-hops-direct-');

  async function run(args: string[]): Promise<{ out: string; json: any }> {
    const json = path.join(tmp.path, `r${Math.random().toString(36).slice(2)}.json`);
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...args, '-t', live.target, '--json', json], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code, err.join('\n')).to.equal(0);
    return { out: out.join('\n'), json: JSON.parse(fs.readFileSync(json, 'utf8')) };
  }

  it('ping: no edge detected, PINGs on the probes\' own connection, counters per session, one connection\'s set-up', async () => {
    const r = await run(['ping', '-q', '-c', '5', '-i', '20']);
    const s = r.json.summary;
    expect(s.path).to.include({ edge_detected: false, pings_via: 'same-connection', calls: 5 });
    // One PING per probe unless the last is still in flight or left < 10 ms ago (a late probe on a busy
    // machine): at least one, and every probe is paired with its connection's nearest.
    expect(s.path.pings.sent).to.be.within(1, 5);
    expect(s.path.pings).to.include({ answered: s.path.pings.sent, paired_calls: 5 });
    expect(s.loss).to.deep.equal({ upstream: 0, downstream: 0, unknown: 0 });
    expect(r.json.probes.map((p: { session_pings_received: number }) => p.session_pings_received)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(s.connections).to.have.length(1);
    const c = s.connections[0];
    expect(c.dns_ms).to.equal(null);
    expect(c.tls_ms).to.equal(null);
    expect(c.settings_ms).to.be.at.least(c.connect_ms);
    expect(r.out).to.match(/^path p50: client↔server [\d.]+ \| server [\d.]+ \| other [\d.]+ ms$/m);
    expect(r.out).to.match(/^connection set-up \(1 connection, /m);
  });

  it('ping --new-connection-every 2: a fresh connection every 2 probes, cold and warm probes apart', async () => {
    const r = await run(['ping', '-q', '-c', '6', '-i', '20', '--new-connection-every', '2']);
    const s = r.json.summary;
    expect(s.received).to.equal(6);
    expect(s.connections).to.have.length(3); // the first, then before probes 2 and 4
    expect(s.cold_path.cold_rtt.count).to.equal(2);
    expect(s.cold_path.warm_rtt.count).to.equal(4);
    expect(r.json.probes.filter((p: { first_on_connection?: boolean }) => p.first_on_connection).map((p: { seq: number }) => p.seq)).to.deep.equal([2, 4]);
    // One session across the connections: the server's counter runs on.
    expect(r.json.probes.map((p: { session_pings_received: number }) => p.session_pings_received)).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('the server refuses a malformed session id with INVALID_ARGUMENT, and answers without a session with zero counters', async () => {
    const md = new grpc.Metadata();
    md.set('rtinfer-session', 'short');
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      live.client.ping({ seq: 0n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n }, md, (e) => resolve(e)),
    );
    expect(err?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).to.match(/rtinfer-session must be 16 to 64 characters/);
    const res = await new Promise<PingResponse>((resolve, reject) =>
      live.client.ping({ seq: 3n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(res.sessionPingsReceived).to.equal(0n);
  });

  it('ping --new-connection-every is refused on a transport that cannot open connections on demand', async () => {
    const err: string[] = [];
    const code = await main(['ping', '-t', live.target, '-c', '2', '--transport', 'grpc-js', '--new-connection-every', '2'], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).to.equal(2);
    expect(err.join('\n')).to.match(/--new-connection-every needs --transport h2/);
  });

  it('classify decomposes its images with PINGs on a separate connection, and says so', async function () {
    const c = await run(['classify', sharedFixture(this, 'images/chelsea.jpg')]);
    expect(c.json.summary.path).to.include({ edge_detected: false, pings_via: 'separate-connection', calls: 1 });
    expect(c.out).to.match(/^path p50: client↔server [\d.]+ \| server [\d.]+ \(queue /m);
  });

  it('bench classify (h2) and stream print the waterfall; the stream\'s PINGs go on a separate connection and it says so', async () => {
    const b = await run(['bench', '--rpc', 'classify', '-C', '2', '--requests', '8', '--warmup', '0']);
    expect(b.json.summary.path).to.include({ edge_detected: false, pings_via: 'same-connection', calls: 8 });
    expect(b.json.summary.path.server_stages_ms.inference.count).to.equal(8);
    expect(b.json.summary.connections).to.have.length(1);
    expect(b.out).to.match(/^path p50: client↔server [\d.]+ \| server [\d.]+ \(queue [\d.]+ decode [\d.]+ infer [\d.]+\) \| other [\d.]+ ms$/m);
    const s = await run(['stream', '--fps', '20', '--frames', '6', '--warmup', '0']);
    expect(s.json.summary.path).to.include({ edge_detected: false, pings_via: 'separate-connection', calls: s.json.summary.ok });
    expect(s.out).to.match(/on a separate HTTP\/2 connection to the same peer/);
  });
});
