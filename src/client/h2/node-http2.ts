/**
 * Unary gRPC over Node's own HTTP/2 client (`node:http2`, nghttp2 underneath), behind the same
 * UnaryTransport seam as our transport and grpc-js: `rtinfer ping --transport node-http2`. It exists so the
 * choice of our own transport stays re-checkable: bench/ping-cpu.ts measures all of them on one server
 * (docs/decisions/0001-client-http2-transport.md). It follows the same gRPC rules (grpc-wire.ts), so it
 * prints the same statuses and messages as the others for the same event.
 *
 * Timing: `sentNs` right before session.request() and `endNs` when the stream has closed, so node:http2's
 * own per-call work is inside the stamps, as grpc-js's is in unary-transport.ts.
 *
 * Kept simple where ours is careful: a lost session is replaced by the next call at once (no back-off),
 * and only a stream the server refused (REFUSED_STREAM, which nghttp2 also reports for streams above a
 * GOAWAY's last-stream-id) is sent again, once, on a new session.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Status } from '../../shared/grpc-status';
import { toolVersion } from '../../measure/report-json';
import { normalizeTarget, type ConnectOptions } from '../connect';
import { connectError, diagnose, type ConnectDiagnosis } from '../connect-diagnosis';
import type { UnaryDone, UnaryTransport } from '../unary-transport';
import { endpointOf, type Endpoint } from './endpoint';
import { grpcTimeout, H2Error, statusFromReset, statusFromTrailers, unaryMessage, writeMessagePrefix, type GrpcStatus } from './grpc-wire';

const USER_AGENT = `rtinfer/${toolVersion()} (node-http2)`;
/** The receive windows ours grants (connection.ts), so both transports move large responses alike. */
const STREAM_WINDOW = 1 << 20;
const CONNECTION_WINDOW = 16 << 20;

export interface NodeHttp2Transport extends UnaryTransport {
  /** Resolves when every session has the server's SETTINGS; rejects with an UNAVAILABLE message after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>;
}

/** One slot's session and why the last one failed, for the messages of calls that could not be sent. */
interface Slot {
  session: http2.ClientHttp2Session | undefined;
  /** The current session has had the server's SETTINGS. */
  settled: boolean;
  lastError: string | undefined;
  /** Set while ready() waits: a socket error before SETTINGS ends the wait at once. */
  onSocketError?: (message: string) => void;
  /**
   * Sessions replaced (GOAWAY, a refused stream) but not yet closed: no new call goes to them, yet a stream
   * still open on one holds it, and with it the process, open. close() ends them.
   */
  readonly retired: Set<http2.ClientHttp2Session>;
}

/** The slot's current session `s` takes no new calls: the next call opens a new one. */
function retire(slot: Slot, s: http2.ClientHttp2Session): void {
  if (slot.session !== s) return;
  slot.session = undefined;
  if (!s.destroyed) slot.retired.add(s);
}

function openSession(ep: Endpoint, slot: Slot): http2.ClientHttp2Session {
  const secure = ep.tls !== undefined;
  let session: http2.ClientHttp2Session | undefined;
  const createConnection = (): net.Socket => {
    const socket = secure
      ? tls.connect({ host: ep.host, port: ep.port, path: ep.socketPath, ca: ep.tls?.ca, cert: ep.tls?.cert, key: ep.tls?.key, servername: ep.tls?.servername, ALPNProtocols: ['h2'] })
      : ep.socketPath
        ? net.connect({ path: ep.socketPath })
        : net.connect({ host: ep.host, port: ep.port ?? 0 });
    // A TLS 1.3 server checks our certificate after the handshake and says no with an alert on the
    // first read; node:http2 then destroys the session without an 'error' or 'close' event, so the
    // socket's error is taken here.
    socket.on('error', (e: Error) => {
      slot.lastError ??= e.message;
      slot.onSocketError?.(e.message);
      session?.destroy();
    });
    return socket;
  };
  const s = http2.connect(`${secure ? 'https' : 'http'}://${ep.authority}`, { createConnection, settings: { enablePush: false, initialWindowSize: STREAM_WINDOW } });
  session = s;
  s.on('connect', () => s.setLocalWindowSize(CONNECTION_WINDOW));
  s.once('remoteSettings', () => {
    if (slot.session === s) slot.settled = true;
  });
  s.on('error', (e: Error) => {
    slot.lastError = e.message;
  });
  s.on('close', () => {
    if (slot.session === s) slot.session = undefined;
    slot.retired.delete(s);
  });
  // No new streams after GOAWAY: the next call opens a new session while this one drains.
  s.on('goaway', () => retire(slot, s));
  slot.session = s;
  slot.settled = false;
  slot.lastError = undefined;
  return s;
}

function sessionOf(ep: Endpoint, slot: Slot): http2.ClientHttp2Session {
  const s = slot.session;
  return s && !s.closed && !s.destroyed ? s : openSession(ep, slot);
}

/** Waits for the server's first SETTINGS (the proof it speaks HTTP/2) on the slot's session. */
function sessionReady(o: ConnectOptions, ep: Endpoint, slot: Slot, timeoutMs: number): Promise<void> {
  const s = sessionOf(ep, slot);
  if (slot.settled) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (why: string, timedOut: boolean): void => {
      if (failed) return;
      failed = true;
      cleanup();
      const explained = (d: ConnectDiagnosis | undefined): void => reject(connectError(ep.label, why, d, timedOut ? timeoutMs : undefined));
      // A diagnosis that fails names nothing: the plain error, never a wait that does not end.
      void diagnose(o, why, !timedOut, ep).then(explained, () => explained(undefined));
    };
    const onSettings = (): void => (cleanup(), resolve());
    const onError = (e: Error): void => fail(e.message, false);
    const onClose = (): void => fail(slot.lastError ?? 'connection closed before HTTP/2 SETTINGS', false);
    const timer = setTimeout(() => (fail(slot.lastError ?? `no HTTP/2 SETTINGS from ${ep.label} yet`, true), s.destroy()), timeoutMs);
    slot.onSocketError = (m) => fail(m, false);
    const cleanup = (): void => {
      slot.onSocketError = undefined;
      clearTimeout(timer);
      s.off('remoteSettings', onSettings);
      s.off('error', onError);
      s.off('close', onClose);
    };
    s.once('remoteSettings', onSettings);
    s.once('error', onError);
    s.once('close', onClose);
  });
}

export function nodeHttp2Transport(o: ConnectOptions, extraMetadata: Array<[string, string]> = []): NodeHttp2Transport {
  const ep = endpointOf(o, 'node-http2');
  const deadlineMs = o.deadlineMs !== undefined && o.deadlineMs > 0 ? o.deadlineMs : undefined;
  const slots: Slot[] = Array.from({ length: Math.max(1, Math.floor(o.connections)) }, () => ({ session: undefined, settled: false, lastError: undefined, retired: new Set<http2.ClientHttp2Session>() }));
  const base: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':scheme': ep.tls ? 'https' : 'http',
    ':authority': ep.authority,
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': USER_AGENT,
  };
  if (o.token) {
    base.authorization = `Bearer ${o.token}`;
    (base as Record<symbol, unknown>)[http2.sensitiveHeaders] = ['authorization']; // never indexed, like ours
  }
  for (const [k, v] of extraMetadata) base[k] = v;
  let closed = false;

  function call(index: number, path: string, body: Buffer, done: UnaryDone, deadlineAt: number | undefined, startedMs: number, resent: boolean): void {
    const slot = slots[index % slots.length];
    if (closed) return done({ code: Status.UNAVAILABLE, details: 'the transport is closed', sentNs: 0n, endNs: process.hrtime.bigint() });
    const headers: http2.OutgoingHttpHeaders = { ...base, ':path': path };
    if (deadlineAt !== undefined) headers['grpc-timeout'] = grpcTimeout(deadlineAt - Date.now());
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (st: GrpcStatus, sentNs: bigint, response?: Buffer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done({ code: st.code, details: st.details, response, sentNs, endNs: process.hrtime.bigint() });
    };
    const sentNs = process.hrtime.bigint();
    let session: http2.ClientHttp2Session;
    let req: http2.ClientHttp2Stream;
    try {
      session = sessionOf(ep, slot);
      req = session.request(headers, { endStream: false });
    } catch (e) {
      return finish({ code: Status.UNAVAILABLE, details: (e as Error).message }, 0n);
    }
    if (deadlineAt !== undefined) {
      timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        finish({ code: Status.DEADLINE_EXCEEDED, details: `Deadline exceeded after ${((Date.now() - startedMs) / 1000).toFixed(3)}s,remote_addr=${ep.label}` }, sentNs);
      }, Math.max(0, deadlineAt - Date.now()));
    }
    let httpStatus: number | undefined;
    let contentType: string | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    let streamError: string | undefined;
    const chunks: Buffer[] = [];
    const fields = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = String(h['grpc-message']);
    };
    req.on('response', (h) => {
      httpStatus = Number(h[':status']);
      contentType = h['content-type'];
      fields(h);
    });
    req.on('trailers', fields);
    req.on('data', (chunk: Buffer) => void chunks.push(chunk));
    req.on('error', (e: Error) => {
      streamError = e.message;
    });
    req.on('close', () => {
      if (finished) return;
      const rst = req.rstCode ?? H2Error.NO_ERROR;
      if (rst === H2Error.REFUSED_STREAM && !resent) {
        // Never processed by the server (RFC 9113 §8.7): once more on a new session, as grpc-js does. Even
        // when response HEADERS arrived: nghttp2 reports a stream above a GOAWAY's last-stream-id as refused,
        // and a server that answers such a stream anyway has already said it will not count it (our own
        // transport reads REFUSED_STREAM the same way).
        finished = true;
        clearTimeout(timer);
        retire(slot, session);
        return call(index, path, body, done, deadlineAt, startedMs, true);
      }
      // No answer at all and the session is gone (close() ended a retired one): node:http2 closes such a
      // stream with NO_ERROR, which is no status from the server; the connection was lost under it.
      if (httpStatus === undefined && grpcStatus === undefined && session.destroyed) return finish({ code: Status.UNAVAILABLE, details: streamError ?? slot.lastError ?? 'Connection dropped' }, sentNs);
      if (grpcStatus !== undefined || (rst === H2Error.NO_ERROR && streamError === undefined)) {
        const st = statusFromTrailers(grpcStatus, grpcMessage, httpStatus, contentType);
        if (st.code !== Status.OK) return finish(st, sentNs);
        const m = unaryMessage(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        return Buffer.isBuffer(m) ? finish(st, sentNs, m) : finish(m, sentNs);
      }
      // The session was lost under the stream (node:http2 then closes it with CANCEL), or the peer reset it.
      if (session.destroyed) return finish({ code: Status.UNAVAILABLE, details: streamError ?? slot.lastError ?? 'Connection dropped' }, sentNs);
      finish(statusFromReset(rst, httpStatus), sentNs);
    });
    const framed = Buffer.allocUnsafe(5 + body.length);
    writeMessagePrefix(framed, 0, body.length);
    body.copy(framed, 5);
    req.end(framed);
  }

  return {
    name: 'node-http2',
    target: normalizeTarget(o.target),
    unary(index, path, request, done, callDeadlineMs): void {
      const d = callDeadlineMs ?? deadlineMs;
      const startedMs = Date.now();
      call(index, path, request, done, d !== undefined && d > 0 ? startedMs + d : undefined, startedMs, false);
    },
    ready: async (timeoutMs) => {
      await Promise.all(slots.map((s) => sessionReady(o, ep, s, timeoutMs)));
    },
    close(): void {
      closed = true;
      for (const s of slots) {
        s.session?.close();
        // Node began a graceful close of each on its GOAWAY; what can remain is a stream the server never
        // ends, so these are ended now (their calls fail as UNAVAILABLE, as on our own transport's close).
        for (const r of s.retired) r.destroy();
        s.retired.clear();
      }
    },
  };
}
