/**
 * `ping`: probes on a fixed schedule (like ping, a probe does not wait for the previous reply): optional
 * warm-up probes, unloaded calibration probes when payloads are set, then the measured probes. Each probe
 * carries the client's send stamp and gets the server's receive and send stamps back. What the run
 * measured is computed by src/measure/ping-summary.ts and printed by src/measure/ping-printer.ts (the
 * definitions are there).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { InferenceServiceService, PingRequest, PingResponse } from '../gen/inference/v1/inference';
import { createWallClock, WallClock } from '../measure/clock';
import { constantPacer, poissonPacer, type Pacer } from '../measure/pacer';
import { summarizePing, type PathPing, type PingResult, type PingSchedule, type Probe } from '../measure/ping-summary';
import type { PingVia } from '../measure/path';
import type { SessionCall } from '../measure/loss-direction';
import { createPathPings, type PathPings, type PingFn } from './path-pings';
import { createIdleGc } from '../measure/idle-gc';
import { sleepUntil, type PreciseWait } from '../measure/sleep';
import { Status, statusName } from '../shared/grpc-status';
import type { UnaryOutcome, UnaryTransport } from './unary-transport';

export interface PingOptions {
  count?: number;
  durationS?: number;
  intervalMs: number;
  payloadBytes: number;
  responseBytes: number;
  /** Unloaded probes sent first to calibrate throughput and the clock offset (only with payloads). */
  calibrationProbes: number;
  /**
   * Probes sent and discarded before anything is measured, on the same schedule: a fresh process runs its
   * first few hundred calls through V8's interpreter and baseline compilers, and the connection's first
   * calls pay for TCP slow start and the server's own warm-up. Default 0 (a user's first probes are real
   * too); `bench/grpcio_ping.py` takes the same option, so comparisons can warm both clients alike.
   */
  warmupProbes?: number;
  /**
   * 'constant' (default): probe k at k × interval, like ping. 'poisson': exponential gaps with mean interval
   * (RFC 2330 §11.1.1), so the send times cannot phase-lock with anything periodic on the path — a reply
   * that always lands while the next probe is being sent, a timer tick, another periodic flow
   * (docs/decisions/0004-measurement-fidelity-pitfalls.md).
   */
  arrivals?: 'constant' | 'poisson';
  /** Seed of the Poisson schedule; random when not given (reported in the summary). */
  seed?: number;
  /**
   * Take warm-reference probes (default true; only at intervals ≥ REFERENCE_MIN_INTERVAL_MS). They are
   * reported apart from the measured probes and let the summary flag idle wake-up.
   */
  warmReference?: boolean;
  /** Keep the path awake between probes (KEEP_WARM_INTERVAL_MS); the traffic is not counted. */
  keepWarm?: boolean;
  /** Connections of the transport (keep-warm wakes each). Default 1. */
  connections?: number;
  /**
   * HTTP/2 PINGs alongside the probes for the per-hop decomposition (path-pings.ts): the PING function and
   * whether it runs on the probes' own connection. Off when undefined.
   */
  path?: { ping: PingFn; via: PingVia };
  /** Replace each connection by a fresh one every N measured probes (needs a transport that can: h2). */
  newConnectionEvery?: number;
  signal?: AbortSignal;
}

/**
 * Why Ping goes below the generated stub: a stub's deserializer runs inside the transport before our
 * callback, so the response decode (and its allocations) would land inside the timed region. Here the
 * request is encoded by us before the clock starts and the response is raw bytes decoded after the clock
 * stops. The transport (unary-transport.ts) takes both stamps: for `h2` right before the socket write and
 * when the response's last frame is parsed.
 */
const PING_PATH = InferenceServiceService.ping.path;

/** Every Ping call of the run's session in send order, for the loss split (loss-direction.ts). */
type SessionLog = Array<{ probe: Probe; counted: boolean }>;

/**
 * Sends probe `seq` (on transport slot `seq`); `dueNs`: when the schedule meant it to leave, ns after t0.
 * `log`: the session's call log (every Ping call of the run goes in it); `path`: PINGs alongside it.
 */
function sendProbe(t: UnaryTransport, seq: number, req: PingRequest, wall: WallClock, t0: bigint, dueNs?: number, log?: SessionLog, counted = false, path?: PathPings): Promise<Probe> {
  return new Promise((resolve) => {
    const stamp = process.hrtime.bigint();
    req.clientSendUnixNanos = wall.wallOf(stamp);
    // A view of the encoder's output, not a copy: the transport copies it into the frame it writes.
    const encoded = PingRequest.encode(req).finish();
    const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    // bytes up = the serialized request as sent (gRPC/HTTP2 framing excluded).
    const probe: Probe = { seq, status: 'OK', due_ns: dueNs, sent_ns: Number(stamp - t0), bytes_up: bytes.length, late: false, t1_unix_nanos: req.clientSendUnixNanos };
    if (dueNs !== undefined) probe.timer_error_ns = probe.sent_ns - dueNs;
    log?.push({ probe, counted });
    const ended = (o: UnaryOutcome): void => {
      // t1 is when the request really left (after encoding, or after waiting for a connection), so the
      // four clock stamps and the RTT share one start.
      if (o.sentNs !== 0n) probe.t1_unix_nanos = wall.wallOf(o.sentNs);
      // Timer error runs to the same moment: all of our own delay before the request left.
      if (o.sentNs !== 0n && dueNs !== undefined) probe.timer_error_ns = Number(o.sentNs - t0) - dueNs;
      if (o.code !== 0 || !o.response) {
        // Only our own transport says a call was never written (0n); grpc-js's 0n means nothing.
        if (o.sentNs === 0n && t.name === 'h2') probe.never_sent = true;
        probe.status = statusName(o.code);
        probe.message = o.details;
        resolve(probe);
        return;
      }
      let res: PingResponse;
      try {
        res = PingResponse.decode(o.response);
      } catch (e) {
        probe.status = 'INTERNAL';
        probe.message = `response is not a valid PingResponse: ${(e as Error).message}`;
        resolve(probe);
        return;
      }
      probe.recv_ns = Number(o.endNs - t0);
      probe.rtt_ns = Number(o.endNs - o.sentNs);
      probe.t2_unix_nanos = res.serverReceiveUnixNanos;
      probe.t3_unix_nanos = res.serverSendUnixNanos;
      probe.t4_unix_nanos = wall.wallOf(o.endNs);
      probe.net_rtt_ns = probe.rtt_ns - Number(res.serverSendUnixNanos - res.serverReceiveUnixNanos);
      probe.bytes_down = o.response.length;
      probe.wire_sent_ns = Number(o.sentNs - t0);
      if (o.upstreamTime !== undefined) probe.upstream_time = o.upstreamTime;
      if (res.sessionPingsReceived > 0n) {
        probe.session_pings_received = Number(res.sessionPingsReceived);
        probe.session_highest_seq = Number(res.sessionHighestSeq);
      }
      if (res.serverId) probe.server_id = res.serverId;
      resolve(probe);
    };
    // A transport that throws (grpc-js on a closed channel) fails this probe, not the run: a rejected
    // probe would also leave the bookkeeping chained on it (runPing) rejected and unhandled.
    try {
      t.unary(seq, PING_PATH, bytes, ended);
      path?.afterCall(seq);
    } catch (e) {
      ended({ code: Status.INTERNAL, details: `the transport could not send the call: ${(e as Error).message}`, sentNs: 0n, endNs: process.hrtime.bigint() });
    }
  });
}

function makeRequest(seq: number, payload: Buffer, responseBytes: number): PingRequest {
  return { seq: BigInt(seq), payload, responseBytes, echoPayload: false, clientSendUnixNanos: 0n };
}

/**
 * Warm reference (docs/decisions/0015-ping-idle-wake-up-disclosure.md): after each measured probe's reply,
 * a warm-up exchange, REFERENCE_LEAD_MS of quiet, then one extra probe whose RTT is that of an awake path.
 * Right after the reply, so the next measured probe still sees (almost) the whole idle interval. None below
 * REFERENCE_MIN_INTERVAL_MS, where the probes keep the path awake themselves and a reference would crowd
 * the schedule; skipped when less than REFERENCE_CLEARANCE_MS would remain before the next probe is due.
 */
export const REFERENCE_MIN_INTERVAL_MS = 100;
export const REFERENCE_LEAD_MS = 2;
const REFERENCE_CLEARANCE_MS = 50;
/** --keep-warm: the longest the path is left idle between probes. */
export const KEEP_WARM_INTERVAL_MS = 10;
/** --keep-warm sends nothing this close before a probe is due, so its exchange is over when the probe leaves. */
const KEEP_WARM_QUIET_NS = 1e6;

/** What wakes the path: an HTTP/2 PING where the transport can send one, otherwise an extra (uncounted) probe. */
export const warmUpVia = (t: UnaryTransport): 'http2-ping' | 'probe' => (t.ping ? 'http2-ping' : 'probe');

/** One warm-up exchange on connection `index`; `done` gets its round trip, undefined when it went unanswered. */
type WarmUp = (index: number, done: (rttNs: bigint | undefined) => void) => void;

/**
 * Made once per run, so --keep-warm's exchange every KEEP_WARM_INTERVAL_MS per connection adds no
 * function of ours to the garbage (docs/decisions/0010-probe-wait-without-garbage.md): an HTTP/2 PING
 * where the transport can send one, otherwise an extra probe (a whole call, garbage and all).
 */
function warmUpOf(t: UnaryTransport, wall: WallClock, t0: bigint): WarmUp {
  if (t.ping) return t.ping.bind(t);
  return (index, done) =>
    void sendProbe(t, index, makeRequest(index, Buffer.alloc(0), 0), wall, t0).then(
      (p) => done(p.rtt_ns === undefined ? undefined : BigInt(p.rtt_ns)),
      () => done(undefined),
    );
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runPing(conn: UnaryTransport, o: PingOptions, onProbe?: (p: Probe) => void): Promise<PingResult> {
  const wall = createWallClock();
  const loaded = o.payloadBytes > 0 || o.responseBytes > 0;
  const payload = o.payloadBytes > 0 ? randomBytes(o.payloadBytes) : Buffer.alloc(0);

  const rate = 1000 / o.intervalMs;
  const seed = o.seed ?? randomInt(2 ** 31);
  const pacer = (): Pacer => (o.arrivals === 'poisson' ? poissonPacer(rate, seed) : constantPacer(rate));

  const log: SessionLog = [];
  // Scavenges between probes rather than inside them (idle-gc.ts); warm-up probes too, so the heap they
  // leave does not make the first measured ones collect.
  const idleWork = createIdleGc()?.run;
  const warm = o.warmupProbes ?? 0;
  if (warm > 0) {
    const tw = process.hrtime.bigint();
    const schedule = pacer();
    const warmWait: PreciseWait = { spinMs: 0, idleWork };
    for (let i = 0; i < warm && !o.signal?.aborted; i++) {
      await sleepUntil(tw + BigInt(Math.round(schedule.next())), o.signal, () => true, warmWait);
      await sendProbe(conn, i, makeRequest(i, payload, o.responseBytes), wall, tw, undefined, log);
    }
  }

  // Calibration: unloaded probes, one at a time, for the baseline one-way delays and the clock offset.
  const calibration: Probe[] = [];
  if (loaded) {
    const t0c = process.hrtime.bigint();
    for (let i = 0; i < o.calibrationProbes && !o.signal?.aborted; i++) {
      calibration.push(await sendProbe(conn, i, makeRequest(i, Buffer.alloc(0), 0), wall, t0c, undefined, log));
    }
  }

  const arrivals = pacer();
  const count = o.count ?? (o.durationS !== undefined ? Math.max(1, Math.floor((o.durationS * 1000) / o.intervalMs)) : 1);
  const t0 = process.hrtime.bigint();
  const nowNs = (): number => Number(process.hrtime.bigint() - t0);
  const pending: Array<Promise<Probe>> = [];
  const references: Array<Promise<Probe | undefined>> = [];
  const sentAtNs: number[] = [];
  // Anything of ours in flight (a call, a warm-up exchange, a path PING) keeps the wait out of its blocking
  // part, so no reply waits on a blocked thread; the last one to end hands over to it (sleep.ts).
  let inFlight = 0;
  let measuredInFlight = 0;
  const pathPingList: PathPing[] = [];
  const connections = Math.max(1, Math.floor(o.connections ?? 1));
  const path = o.path
    ? createPathPings(o.path.ping, o.path.via, connections, (c, sentNs, rttNs) => {
        pathPingList.push({ conn: c, at_ns: Number(sentNs - t0), ...(rttNs === undefined ? {} : { rtt_ns: Number(rttNs) }) });
        wakeIfIdle();
      })
    : undefined;
  const idle = (): boolean => inFlight === 0 && !path?.busy();
  let wakeOnIdle: (() => void) | undefined;
  /** How the probes wait for their due time: sleeping, never spinning (sleep.ts, PreciseWait). */
  const wait: PreciseWait = { whenIdle: (wake) => void (wakeOnIdle = wake), spinMs: 0, idleWork };
  const wakeIfIdle = (): void => {
    if (wakeOnIdle === undefined || !idle()) return;
    const wake = wakeOnIdle;
    wakeOnIdle = undefined;
    wake();
  };
  // Built once: the bookkeeping of each probe adds no closure of its own (decision 0010).
  const endInFlight = (): void => {
    inFlight--;
    wakeIfIdle();
  };
  const endMeasured = (): void => void measuredInFlight--;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight++;
    void p.then(endInFlight, endInFlight);
    return p;
  };
  const warmUp = warmUpOf(conn, wall, t0);
  const renewEvery = o.newConnectionEvery !== undefined && conn.renew ? Math.floor(o.newConnectionEvery) : 0;

  // Not with payloads: a loaded probe's RTT is mostly transfer time, which the calibration probes already
  // separate out, and a loaded reference could still be transferring when the next probe is due.
  const withReference = (o.warmReference ?? true) && !loaded && o.intervalMs >= REFERENCE_MIN_INTERVAL_MS;
  const enoughRoom = (nextDueNs: number | undefined): boolean => nextDueNs === undefined || nextDueNs - nowNs() >= REFERENCE_CLEARANCE_MS * 1e6;
  const reference = async (after: Probe, nextDueNs: number | undefined): Promise<Probe | undefined> => {
    if (after.rtt_ns === undefined || o.signal?.aborted || !enoughRoom(nextDueNs)) return undefined;
    // An unanswered warm-up (the transport's PING timeout or the call deadline ended it) woke nothing:
    // a probe after it would not measure a warm path, so this reference is missing.
    const answered = await track(new Promise<boolean>((resolve) => warmUp(after.seq, (rtt) => resolve(rtt !== undefined))));
    if (!answered) return undefined;
    await pause(REFERENCE_LEAD_MS);
    if (o.signal?.aborted || !enoughRoom(nextDueNs)) return undefined;
    const r = await track(sendProbe(conn, after.seq, makeRequest(after.seq, payload, o.responseBytes), wall, t0, undefined, log));
    r.warm_reference = true;
    return r;
  };

  // --keep-warm: a warm-up exchange on every connection each KEEP_WARM_INTERVAL_MS, none while a measured
  // probe is in flight or about to leave (it would only queue with it) and at most one at a time per connection.
  const keepWarmBusy: boolean[] = new Array<boolean>(connections).fill(false);
  let keepWarmOutstanding = 0;
  let keepWarmSettled: (() => void) | undefined;
  /** Per connection, built once: ends that connection's keep-warm exchange. */
  const keepWarmDone = Array.from({ length: connections }, (_, i) => (): void => {
    keepWarmBusy[i] = false;
    inFlight--;
    if (--keepWarmOutstanding === 0) keepWarmSettled?.();
    wakeIfIdle();
  });
  let keepWarmSent = 0;
  let awaitedDueNs = 0;
  const keepWarm = o.keepWarm
    ? setInterval(() => {
        const t = nowNs();
        if (measuredInFlight > 0 || (t < awaitedDueNs && awaitedDueNs - t < KEEP_WARM_QUIET_NS)) return;
        for (let i = 0; i < connections; i++) {
          if (keepWarmBusy[i]) continue;
          keepWarmSent++;
          keepWarmBusy[i] = true;
          keepWarmOutstanding++;
          inFlight++;
          warmUp(i, keepWarmDone[i]);
        }
      }, KEEP_WARM_INTERVAL_MS)
    : undefined;
  /** Stops --keep-warm and waits for its last exchanges, so none is cut off by closing the connection. */
  const stopKeepWarm = async (): Promise<void> => {
    if (!keepWarm) return;
    clearInterval(keepWarm);
    if (keepWarmOutstanding > 0) await new Promise<void>((resolve) => (keepWarmSettled = resolve));
  };

  try {
    let nextDue = Math.round(arrivals.next());
    for (let seq = 0; seq < count; seq++) {
      const dueNs = nextDue;
      nextDue = Math.round(arrivals.next());
      awaitedDueNs = dueNs;
      // --new-connection-every: the fresh connections are opened before the wait, so their set-up
      // overlaps it; the probes in flight finish on the old ones.
      const fresh = renewEvery > 0 && seq >= renewEvery && seq % renewEvery < Math.min(renewEvery, connections);
      if (renewEvery > 0 && seq > 0 && seq % renewEvery === 0) for (let i = 0; i < connections; i++) conn.renew!(i);
      await sleepUntil(t0 + BigInt(dueNs), o.signal, idle, wait);
      if (o.signal?.aborted) break;
      const req = makeRequest(seq, payload, o.responseBytes);
      sentAtNs.push(nowNs());
      measuredInFlight++;
      const p = track(sendProbe(conn, seq, req, wall, t0, dueNs, log, true, path));
      if (fresh) void p.then((x) => void (x.first_on_connection = true));
      void p.then(endMeasured, endMeasured);
      if (onProbe) void p.then(onProbe);
      const followedBy = seq + 1 < count ? nextDue : undefined;
      if (withReference) references.push(p.then((done) => reference(done, followedBy)));
      pending.push(p);
    }
    const probes = await Promise.all(pending);
    const refs = (await Promise.all(references)).filter((r): r is Probe => r !== undefined);
    await stopKeepWarm();
    // Losses after the last reply have no later counter to be judged by: one more (uncounted) call reads it.
    const lastAnswered = log.reduce((at, e, i) => (e.probe.status === 'OK' ? i : at), -1);
    if (log.slice(lastAnswered + 1).some((e) => e.counted) && !o.signal?.aborted) {
      await sendProbe(conn, count, makeRequest(count, Buffer.alloc(0), 0), wall, t0, undefined, log);
    }
    await path?.settled();
    const session: SessionCall[] = log.map((e) => ({ answered: e.probe.status === 'OK', received: e.probe.session_pings_received, serverId: e.probe.server_id, counted: e.counted, neverSent: e.probe.never_sent }));
    const schedule: PingSchedule = arrivals.kind === 'poisson' ? { arrivals: 'poisson', mean_interval_ms: o.intervalMs, seed } : { arrivals: 'constant', mean_interval_ms: o.intervalMs };
    return summarizePing({
      probes,
      sentAtNs,
      calibration,
      schedule,
      payloadBytes: o.payloadBytes,
      responseBytes: o.responseBytes,
      ...(withReference ? { references: refs, warmReference: { warm_up: warmUpVia(conn), lead_ms: REFERENCE_LEAD_MS } } : {}),
      ...(o.keepWarm ? { keepWarm: { via: warmUpVia(conn), interval_ms: KEEP_WARM_INTERVAL_MS, sent: keepWarmSent } } : {}),
      ...(path ? { path: { via: path.via, connections: path.via === 'same-connection' ? connections : 1, pings: pathPingList } } : {}),
      session,
      setups: conn.connectionSetups?.(),
      ...(renewEvery > 0 ? { newConnectionEvery: renewEvery } : {}),
    });
  } finally {
    await stopKeepWarm();
  }
}
