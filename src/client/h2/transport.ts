/**
 * `rtinfer ping`'s default transport: a minimal unary gRPC client written directly on `node:net` /
 * `node:tls` sockets (HTTP/2 framing in connection.ts, HPACK in hpack.ts), instead of grpc-js.
 *
 * Why we wrote our own: ping's p99 on loopback must not be worse than the gRPC C core's (Python grpcio),
 * and a client's tail follows its CPU per call — a thread on CPU longer per call is likelier to be
 * preempted mid-call, and each preemption costs a scheduler time slice. No option of grpc-js or node:http2
 * brought theirs down; a client that does only what a unary call needs (one buffer written per request,
 * frames cut straight from the socket's chunks) has no layers to pay for. The figures, and the command
 * that re-measures all four clients (ours, node:http2, grpc-js, C core): bench/ping-cpu.ts and
 * docs/decisions/0001-client-http2-transport.md. grpc-js and node:http2 stay selectable (`--transport`)
 * for comparison; grpc-js is still what classify and stream use.
 *
 * This file adds what a long ping run needs around single connections: deadlines (grpc-timeout header
 * and a local timer), connecting with retries until ready, and reconnecting after a connection drops —
 * calls in flight on a lost connection fail with UNAVAILABLE, later calls open a new one.
 */
import { Status } from '../../shared/grpc-status';
import { grpcTimeout } from './grpc-wire';
import { H2Connection, PING_TIMEOUT_MS, type CallOutcome, type SetupStamps, type StreamOwner } from './connection';
import type { ConnectionSetup } from '../../measure/connection-setup';
import { endpointOf, type Endpoint } from './endpoint';
import { normalizeTarget, type ConnectOptions } from '../connect';
import { connectError, diagnose, type ConnectDiagnosis } from '../connect-diagnosis';
import { toolVersion } from '../../measure/report-json';
import type { UnaryDone, UnaryTransport } from '../unary-transport';

const USER_AGENT = `rtinfer/${toolVersion()} (h2)`;

/** Reconnect back-off after a failed attempt: grpc-js's 1 s × 1.6 growth, capped lower (10 s) so a measuring run recovers soon after the server does. */
const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MAX_MS = 10_000;
const CONNECT_TIMEOUT_MS = 20_000;

/** A call from unary() until its outcome is delivered; the connection sees it as its stream's owner. */
class Call implements StreamOwner {
  conn: H2Connection | undefined;
  timer: NodeJS.Timeout | undefined;
  finished = false;
  constructor(
    readonly path: string,
    readonly request: Buffer,
    private readonly deadlineAt: number | undefined,
    private readonly done: UnaryDone,
  ) {}

  timeout(): string | undefined {
    return this.deadlineAt === undefined ? undefined : grpcTimeout(this.deadlineAt - Date.now());
  }

  /** Set by the channel: sends this call again on a fresh connection. */
  resend: ((call: Call) => void) | undefined;
  private resent = false;

  end(o: CallOutcome): void {
    if (this.finished) return;
    // grpc-js's "transparent retry": a call the server certainly never processed (a connection rotated by
    // GOAWAY, as Envoy's max_connection_duration or a server's max-connection-age do; a refused stream) is
    // sent again, once, instead of surfacing as an error the server never caused. Its timing restarts at
    // the new write, so the RTT is still one request's round trip; the deadline keeps running.
    if (o.unprocessed && !this.resent && this.resend) {
      this.resent = true;
      this.conn = undefined;
      this.resend(this);
      return;
    }
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.done(o);
  }
}

/** One logical connection to the target: at most one live HTTP/2 connection, replaced when it is lost. */
export class H2Channel {
  private conn: H2Connection | undefined;
  private connecting: H2Connection | undefined;
  private readonly queue: Call[] = [];
  private lastError = '';
  private failures = 0;
  private retryAt = 0;
  private closed = false;
  private readonly waiters: Array<(err: string | undefined) => void> = [];

  constructor(
    private readonly ep: Endpoint,
    private readonly metadata: Array<[string, string]>,
    private readonly deadlineMs: number | undefined,
    /** Names the cause of a failed attempt when waiting cannot fix it (connect-diagnosis.ts). */
    private readonly explain: (reason: string, mayProbe?: boolean) => Promise<ConnectDiagnosis | undefined> = async () => undefined,
    /** Told the set-up stamps of each connection that became ready. */
    private readonly onSetup: (s: SetupStamps) => void = () => undefined,
  ) {}

  unary(path: string, request: Buffer, done: UnaryDone, deadlineMs = this.deadlineMs): void {
    const hasDeadline = deadlineMs !== undefined && deadlineMs > 0;
    const startedMs = Date.now();
    const call = new Call(path, request, hasDeadline ? startedMs + deadlineMs : undefined, done);
    if (hasDeadline) call.timer = setTimeout(() => this.expire(call, startedMs), deadlineMs);
    call.resend = (again) => this.dispatch(again);
    this.dispatch(call);
  }

  private dispatch(call: Call): void {
    const c = this.conn;
    if (c && c.usable) {
      call.conn = c;
      c.start(call);
      return;
    }
    if (this.closed) return call.end(this.unavailable('the channel is closed'));
    if (!this.connecting && Date.now() < this.retryAt) return call.end(this.unavailable(`No connection established. Last error: ${this.lastError}`));
    this.queue.push(call);
    this.connect();
  }

  /** Connects (retrying with back-off) until the connection is ready or `timeoutMs` passes. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let probed = false;
    while (!(this.conn && this.conn.usable)) {
      if (this.closed) throw new Error('the channel is closed');
      const wait = Math.max(0, this.retryAt - Date.now());
      if (Date.now() + wait >= deadline) break;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      let timer: NodeJS.Timeout | undefined;
      const err = await new Promise<string | undefined>((resolve) => {
        this.waiters.push(resolve);
        // A peer that accepts but never speaks HTTP/2 must not hold us past our own deadline.
        timer = setTimeout(() => resolve(`no HTTP/2 SETTINGS from ${this.ep.label} yet`), Math.max(0, deadline - Date.now()));
        this.connect();
      });
      clearTimeout(timer);
      if (err === undefined) return;
      this.lastError ||= err;
      // A refused port or a TLS mismatch stays so: say it now instead of retrying until the deadline.
      // One probe per ready() is enough: a second would meet the same server.
      const d = await this.explain(this.lastError, !probed);
      probed = true;
      if (d) throw connectError(this.ep.label, d.reason, d);
      if (Date.now() >= deadline) break;
    }
    if (this.conn && this.conn.usable) return;
    const reason = this.lastError || 'no connection attempt finished in time';
    const d = await this.explain(reason, false);
    throw connectError(this.ep.label, reason, d, timeoutMs);
  }

  /**
   * An HTTP/2 PING round trip on the live connection (H2Connection.ping); undefined when there is none or
   * no ACK came within the call deadline (PING_TIMEOUT_MS without one): a PING slower than a call may be
   * is as good as lost.
   */
  ping(done: (rttNs: bigint | undefined) => void): void {
    const c = this.conn;
    if (c && c.usable) c.ping(done, this.deadlineMs ?? PING_TIMEOUT_MS);
    else done(undefined);
  }

  /**
   * Replaces the live connection with a new one, opened now: the old one takes no new calls and closes when
   * its calls in flight have ended; calls made before the new one is ready wait for it.
   */
  renew(): void {
    const old = this.conn;
    this.conn = undefined;
    old?.drain();
    this.connect();
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
    this.connecting?.close();
  }

  private connect(): void {
    if (this.connecting || this.closed) return;
    const c = new H2Connection(this.ep, { userAgent: USER_AGENT, metadata: this.metadata, connectTimeoutMs: CONNECT_TIMEOUT_MS }, {
      ready: () => {
        this.onSetup(c.setup);
        this.connecting = undefined;
        this.conn = c;
        this.failures = 0;
        this.retryAt = 0;
        for (const w of this.waiters.splice(0)) w(undefined);
        for (const call of this.queue.splice(0)) {
          if (call.finished) continue;
          call.conn = c;
          c.start(call);
        }
      },
      unusable: () => {
        if (this.conn === c) this.conn = undefined;
      },
      closed: (error, wasReady) => {
        if (this.conn === c) this.conn = undefined;
        if (wasReady) return;
        // A failed attempt: queued calls fail at once (as grpc-js fails calls in TRANSIENT_FAILURE), and
        // new ones fail fast until the back-off has passed.
        this.connecting = undefined;
        this.lastError = error ?? 'connection closed';
        this.retryAt = Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 1.6 ** this.failures++);
        for (const w of this.waiters.splice(0)) w(this.lastError);
        for (const call of this.queue.splice(0)) call.end(this.unavailable(`No connection established. Last error: ${this.lastError}`));
      },
    });
    this.connecting = c;
  }

  private expire(call: Call, startedMs: number): void {
    if (call.finished) return;
    const q = this.queue.indexOf(call);
    if (q >= 0) this.queue.splice(q, 1);
    // The send stamp stays when the request was written: the probe's timer error and t1 then end where an
    // answered probe's do.
    const sentNs = call.conn?.cancel(call) ?? 0n;
    const now = process.hrtime.bigint();
    call.end({ code: Status.DEADLINE_EXCEEDED, details: `Deadline exceeded after ${((Date.now() - startedMs) / 1000).toFixed(3)}s,remote_addr=${this.ep.label}`, sentNs, endNs: now });
  }

  private unavailable(details: string): CallOutcome {
    const now = process.hrtime.bigint();
    return { code: Status.UNAVAILABLE, details, sentNs: 0n, endNs: now };
  }
}

export interface H2Transport extends UnaryTransport {
  ping(index: number, done: (rttNs: bigint | undefined) => void): void;
  /** Resolves when every connection is ready; rejects with an UNAVAILABLE message after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>;
}

/** curl-style figures (connection-setup.ts) from one connection's stamps; `firstNs`: the run's first attempt. */
export function setupOf(index: number, s: SetupStamps, firstNs: bigint): ConnectionSetup {
  const ms = (t: bigint | undefined): number | null => (t === undefined ? null : Number(t - s.startNs) / 1e6);
  return {
    index,
    at_s: Number(s.startNs - firstNs) / 1e9,
    dns_ms: ms(s.lookupNs),
    connect_ms: ms(s.connectNs) ?? 0,
    tls_ms: ms(s.tlsNs),
    settings_ms: ms(s.settingsNs) ?? 0,
  };
}

/**
 * `extraMetadata`: headers sent on every call besides the token (ping's session id for the server's
 * per-session counters).
 */
export function h2Transport(o: ConnectOptions, extraMetadata: Array<[string, string]> = []): H2Transport {
  const ep = endpointOf(o);
  const metadata: Array<[string, string]> = [...(o.token ? ([['authorization', `Bearer ${o.token}`]] as Array<[string, string]>) : []), ...extraMetadata];
  const deadlineMs = o.deadlineMs !== undefined && o.deadlineMs > 0 ? o.deadlineMs : undefined;
  const explain = (reason: string, mayProbe?: boolean): Promise<ConnectDiagnosis | undefined> => diagnose(o, reason, mayProbe, ep);
  const setups: SetupStamps[] = [];
  const onSetup = (s: SetupStamps): void => void setups.push(s);
  const channels = Array.from({ length: Math.max(1, Math.floor(o.connections)) }, () => new H2Channel(ep, metadata, deadlineMs, explain, onSetup));
  return {
    name: 'h2',
    target: normalizeTarget(o.target),
    unary: (index, path, request, done, callDeadlineMs) => channels[index % channels.length].unary(path, request, done, callDeadlineMs ?? deadlineMs),
    ping: (index, done) => channels[index % channels.length].ping(done),
    renew: (index) => channels[index % channels.length].renew(),
    connectionSetups: () => {
      const sorted = [...setups].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
      return sorted.map((s, i) => setupOf(i, s, sorted[0].startNs));
    },
    ready: async (timeoutMs) => {
      await Promise.all(channels.map((c) => c.ready(timeoutMs)));
    },
    close: () => channels.forEach((c) => c.close()),
  };
}
