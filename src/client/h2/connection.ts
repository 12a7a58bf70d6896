/**
 * One HTTP/2 connection carrying unary gRPC calls, written directly on a `node:net` / `node:tls` socket.
 * Why not node:http2 or grpc-js: docs/decisions/0001-client-http2-transport.md. This file is the protocol engine:
 * connection preface and SETTINGS, HEADERS (+ CONTINUATION) out and in, DATA with flow control in both
 * directions (connection and stream windows, WINDOW_UPDATE), PING ACK, RST_STREAM, GOAWAY. It knows
 * nothing of reconnecting or deadlines; transport.ts owns those.
 *
 * Timing contract (what `ping` measures): a call's send stamp is taken immediately before the socket write
 * of its first bytes, and its end stamp as soon as the frame that ends its stream has been cut from the
 * input — before any HPACK decoding, body concatenation or status mapping of ours, which happen after.
 * Header blocks are therefore decoded lazily but strictly in arrival order (HPACK's dynamic table is one
 * per connection), each time a stream ends or the connection fails.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Status } from '../../shared/grpc-status';
import { H2Error, statusFromReset, statusFromTrailers, unaryMessage, writeMessagePrefix, type GrpcStatus } from './grpc-wire';
import { DEFAULT_MAX_FRAME, DEFAULT_WINDOW, Flag, Frame, FRAME_HEADER, goawayFrame, h2ErrorName, MAX_WINDOW, PREFACE, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame, writeFrameHeader, frame } from './frames';
import type { Endpoint } from './endpoint';
import { RequestHeaderEncoder, ResponseHeaderDecoder } from './hpack';
import { UPSTREAM_TIME_HEADER } from '../../measure/upstream-time';

/**
 * hrtime stamps of one connection's set-up (connection-setup.ts turns them into curl-style figures):
 * the attempt's start, name resolution done (none for an address), TCP connected, TLS done (none in
 * plaintext), and the peer's first SETTINGS parsed.
 */
export interface SetupStamps {
  startNs: bigint;
  lookupNs?: bigint;
  connectNs?: bigint;
  tlsNs?: bigint;
  settingsNs?: bigint;
}

/**
 * Receive windows we grant. Responses can be several MB (--response-bytes): 1 MiB per stream, replenished
 * at half, keeps a large response flowing without a stall per 64 KiB (HTTP/2's default window) while
 * still exercising flow control; the connection window is 16 MiB so concurrent streams never starve it.
 */
export const STREAM_WINDOW = 1 << 20;
export const CONNECTION_WINDOW = 16 << 20;

/** One read buffer for every plaintext connection: reads are handled synchronously, one at a time. */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

export interface CallOutcome extends GrpcStatus {
  /** The response message (without the gRPC prefix) when code is OK. */
  response?: Buffer;
  /** hrtime right before the socket write of the request; 0n when it was never written. */
  sentNs: bigint;
  /** hrtime when the call ended (its last frame parsed, or the failure noticed). */
  endNs: bigint;
  /** The response's x-envoy-upstream-service-time, raw (the edge's upstream time), when present. */
  upstreamTime?: string;
  /**
   * The server certainly did not process the call: a stream above a GOAWAY's last-stream-id, one refused
   * with REFUSED_STREAM, or a call still waiting for a stream slot when the connection went away
   * (RFC 9113 §8.7). Such a call is safe to send again on a new connection; transport.ts does so once.
   */
  unprocessed?: boolean;
}

/** What a stream reports to: the call object of transport.ts. */
export interface StreamOwner {
  readonly path: string;
  readonly request: Buffer;
  /** grpc-timeout value for the header, computed at send time; undefined = no deadline. */
  timeout(): string | undefined;
  end(o: CallOutcome): void;
}

interface Stream {
  id: number;
  owner: StreamOwner;
  sentNs: bigint;
  sendWindow: number;
  /** Request body (gRPC-framed) still to send, from `outOff`; null when all sent. */
  out: Buffer | null;
  outOff: number;
  recvUnacked: number;
  body: Buffer[];
  httpStatus?: number;
  contentType?: string;
  grpcStatus?: string;
  grpcMessage?: string;
  upstreamTime?: string;
}

export interface ConnectionEvents {
  ready(): void;
  /** The connection can take no new streams (GOAWAY, stream ids exhausted) or is gone. */
  unusable(): void;
  /** The socket closed; `error` is why, when it was not a clean close after ready. */
  closed(error: string | undefined, wasReady: boolean): void;
}

export interface ConnectionOptions {
  userAgent: string;
  metadata: Array<[string, string]>;
  /** Socket connect + TLS handshake + the server's SETTINGS must take no longer (grpc-js's minimum is 20 s). */
  connectTimeoutMs: number;
}

/**
 * After a call on this connection passes its deadline we cannot tell a slow server from a dead path (a
 * black-holed connection never errors; TCP gives up only after ~15 min), so we send a PING: no frame at all
 * from the peer within this time and the connection is dropped, failing its calls with UNAVAILABLE, and the
 * next call reconnects. grpc-js has no such check by default; a long ping run needs one.
 */
const LIVENESS_TIMEOUT_MS = 2000;
const MAX_STREAM_ID = 2 ** 31 - 1;
/** First half of the payload of ping()'s PINGs ('rtin'). */
const PING_MARK = 0x7274696e;
/**
 * How long ping() waits for its ACK by default. A peer or proxy that never ACKs our PINGs (RFC 9113 says it
 * must, but nothing enforces it) must not leave the caller waiting for ever: `ping`'s warm reference awaits
 * its warm-up PING, and --keep-warm sends a connection's next PING only after the last one settled.
 */
export const PING_TIMEOUT_MS = 2000;

export class H2Connection {
  private readonly socket: net.Socket;
  private readonly enc: RequestHeaderEncoder;
  private readonly dec = new ResponseHeaderDecoder();
  private readonly streams = new Map<number, Stream>();
  /** Calls waiting for the peer's MAX_CONCURRENT_STREAMS to allow them. */
  private readonly waiting: StreamOwner[] = [];
  /** Streams whose request body waits for send window. */
  private readonly blocked = new Set<Stream>();
  /** Complete header blocks not yet decoded, in arrival order (`s` undefined: a stream we no longer track). */
  private readonly undecoded: Array<{ s: Stream | undefined; block: Buffer }> = [];
  private cont: { id: number; parts: Buffer[]; endStream: boolean } | null = null;
  private rest: Buffer | null = null;
  private nextId = 1;
  private state: 'connecting' | 'ready' | 'draining' | 'closed' = 'connecting';
  private gotSettings = false;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxStreams = Infinity;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvUnacked = 0;
  private lastError: string | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  /** ping() round trips awaiting their ACK, by the sequence number in their payload. */
  private readonly pings = new Map<number, { sentNs: bigint; done: (rttNs: bigint | undefined) => void; timer: NodeJS.Timeout }>();
  private pingSeq = 0;
  /** When each step of opening this connection finished (SetupStamps). */
  readonly setup: SetupStamps = { startNs: process.hrtime.bigint() };

  constructor(private readonly ep: Endpoint, o: ConnectionOptions, private readonly events: ConnectionEvents) {
    this.enc = new RequestHeaderEncoder({ https: ep.tls !== undefined, authority: ep.authority, userAgent: o.userAgent, metadata: o.metadata });
    if (ep.tls) {
      this.socket = tls.connect({ host: ep.host, port: ep.port, path: ep.socketPath, ca: ep.tls.ca, cert: ep.tls.cert, key: ep.tls.key, servername: ep.tls.servername, ALPNProtocols: ['h2'] });
      this.socket.once('secureConnect', () => {
        this.setup.tlsNs = process.hrtime.bigint();
        const alpn = (this.socket as tls.TLSSocket).alpnProtocol;
        if (alpn !== 'h2') return this.fail(`the server at ${ep.label} did not negotiate HTTP/2 over TLS (ALPN: ${alpn || 'none'})`);
        this.sendPreface();
      });
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    } else {
      // Plaintext reads land in one reused buffer (`onread`) instead of a fresh allocation per read handed
      // through the Readable stream machinery: less of our process's work between the reply's arrival and
      // its end stamp, and less garbage for V8 to scavenge. Hence every byte kept past the callback is
      // copied (onDataFrame, onHeaderBlock, `rest`). TLS sockets have no `onread`; they use 'data'.
      const onread = { buffer: readBuffer, callback: (n: number, buf: Uint8Array): boolean => (this.onData(Buffer.from(buf.buffer, buf.byteOffset, n)), true) };
      this.socket = ep.socketPath ? net.connect({ path: ep.socketPath, onread }) : net.connect({ host: ep.host, port: ep.port ?? 0, onread });
      this.socket.once('connect', () => this.sendPreface());
    }
    this.socket.once('lookup', () => (this.setup.lookupNs = process.hrtime.bigint()));
    this.socket.once('connect', () => (this.setup.connectNs = process.hrtime.bigint()));
    this.socket.setNoDelay(true);
    this.socket.on('error', (e: Error) => {
      this.lastError ??= e.message;
    });
    this.socket.on('close', () => this.onClose());
    this.connectTimer = setTimeout(() => this.fail(`no HTTP/2 connection to ${ep.label} within ${o.connectTimeoutMs} ms`), o.connectTimeoutMs);
  }

  get usable(): boolean {
    return this.state === 'ready';
  }

  /** The socket is connected: preface, our settings, and the connection window we grant. */
  private sendPreface(): void {
    this.socket.write(
      Buffer.concat([
        PREFACE,
        settingsFrame([
          [Setting.ENABLE_PUSH, 0],
          [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        ]),
        windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW),
      ]),
    );
  }

  /** Starts a call now (or when the peer's stream limit allows). Only on a usable connection. */
  start(owner: StreamOwner): void {
    if (this.streams.size >= this.peerMaxStreams) {
      this.waiting.push(owner);
      return;
    }
    this.open(owner);
  }

  /**
   * Abandons a call (deadline, cancel): RST_STREAM(CANCEL) if it was sent. The owner reports its own
   * status, with the send stamp returned here (0n: never written).
   */
  cancel(owner: StreamOwner): bigint {
    const w = this.waiting.indexOf(owner);
    if (w >= 0) {
      this.waiting.splice(w, 1);
      return 0n;
    }
    for (const s of this.streams.values()) {
      if (s.owner !== owner) continue;
      this.streams.delete(s.id);
      this.blocked.delete(s);
      if (this.state !== 'closed') {
        this.socket.write(rstStreamFrame(s.id, H2Error.CANCEL));
        this.checkLiveness();
      }
      this.afterStreamEnd();
      return s.sentNs;
    }
    return 0n;
  }

  /**
   * One HTTP/2 PING round trip (RFC 9113 §6.7): `done` gets the ns from its write to its ACK's parse, or
   * undefined if the connection closes first or no ACK came within `timeoutMs` (a late ACK is then
   * ignored). The peer's HTTP/2 layer answers without its application, so `ping` uses it to wake the path
   * (warm reference, --keep-warm) without a call the server would count.
   */
  ping(done: (rttNs: bigint | undefined) => void, timeoutMs = PING_TIMEOUT_MS): void {
    if (this.state === 'closed') return done(undefined);
    const seq = (this.pingSeq = (this.pingSeq + 1) >>> 0);
    const p = Buffer.alloc(8);
    p.writeUInt32BE(PING_MARK, 0); // the liveness PING's payload is all zeros: never mistaken for ours
    p.writeUInt32BE(seq, 4);
    const timer = setTimeout(this.onPingTimeout, timeoutMs, seq);
    this.pings.set(seq, { sentNs: process.hrtime.bigint(), done, timer });
    this.socket.write(frame(Frame.PING, 0, 0, p));
  }

  /** Bound once, so a PING's timer needs no closure of its own. */
  private readonly onPingTimeout = (seq: number): void => {
    const q = this.pings.get(seq);
    if (!q) return;
    this.pings.delete(seq);
    q.done(undefined);
  };

  /**
   * Takes no new calls and closes once the calls in flight have ended (`ping --new-connection-every`
   * replaces a connection without failing the probes still on it).
   */
  drain(): void {
    this.becomeUnusable();
    if (this.state === 'draining' && this.streams.size === 0 && this.waiting.length === 0) this.close();
  }

  /** Tells the peer (GOAWAY NO_ERROR) and closes at once; calls still in flight fail as UNAVAILABLE. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.gotSettings) this.socket.end(goawayFrame(0, H2Error.NO_ERROR));
    this.socket.destroy();
  }

  private open(owner: StreamOwner): void {
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_STREAM_ID) this.becomeUnusable(); // stream ids are never reused: a new connection takes over
    const block = this.enc.block(owner.path, owner.timeout());
    const msg = owner.request;
    const bodyLen = 5 + msg.length;
    const s: Stream = { id, owner, sentNs: 0n, sendWindow: this.peerInitialWindow, out: null, outOff: 0, recvUnacked: 0, body: [] };
    this.streams.set(id, s);
    if (block.length <= this.peerMaxFrame && bodyLen <= this.peerMaxFrame && bodyLen <= this.connSendWindow && bodyLen <= s.sendWindow) {
      // The common case (every ping): HEADERS and one DATA frame in one buffer, one write.
      const buf = Buffer.allocUnsafe(2 * FRAME_HEADER + block.length + bodyLen);
      writeFrameHeader(buf, 0, block.length, Frame.HEADERS, Flag.END_HEADERS, id);
      block.copy(buf, FRAME_HEADER);
      const d = FRAME_HEADER + block.length;
      writeFrameHeader(buf, d, bodyLen, Frame.DATA, Flag.END_STREAM, id);
      writeMessagePrefix(buf, d + FRAME_HEADER, msg.length);
      msg.copy(buf, d + FRAME_HEADER + 5);
      this.connSendWindow -= bodyLen;
      s.sendWindow -= bodyLen;
      s.sentNs = process.hrtime.bigint();
      this.socket.write(buf);
      return;
    }
    const prefix = Buffer.allocUnsafe(5);
    writeMessagePrefix(prefix, 0, msg.length);
    s.out = Buffer.concat([prefix, msg]);
    const headers: Buffer[] = [];
    for (let off = 0; off < block.length || off === 0; off += this.peerMaxFrame) {
      const part = block.subarray(off, off + this.peerMaxFrame);
      const last = off + this.peerMaxFrame >= block.length;
      headers.push(frame(off === 0 ? Frame.HEADERS : Frame.CONTINUATION, last ? Flag.END_HEADERS : 0, id, part));
    }
    s.sentNs = process.hrtime.bigint();
    this.socket.cork();
    for (const h of headers) this.socket.write(h);
    this.flush(s);
    this.socket.uncork();
  }

  /** Sends as much of a stream's request body as both send windows allow. */
  private flush(s: Stream): void {
    const out = s.out;
    if (out === null) return;
    while (s.outOff < out.length) {
      const n = Math.min(out.length - s.outOff, this.peerMaxFrame, this.connSendWindow, s.sendWindow);
      if (n <= 0) {
        this.blocked.add(s);
        return;
      }
      const last = s.outOff + n === out.length;
      const h = Buffer.allocUnsafe(FRAME_HEADER);
      writeFrameHeader(h, 0, n, Frame.DATA, last ? Flag.END_STREAM : 0, s.id);
      this.socket.write(h);
      this.socket.write(out.subarray(s.outOff, s.outOff + n));
      s.outOff += n;
      this.connSendWindow -= n;
      s.sendWindow -= n;
    }
    s.out = null;
    this.blocked.delete(s);
  }

  private flushBlocked(): void {
    if (this.blocked.size === 0) return;
    this.socket.cork();
    for (const s of [...this.blocked]) this.flush(s);
    this.socket.uncork();
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let off = 0;
    if (!this.gotSettings && buf.length >= 9 && buf[3] !== Frame.SETTINGS) {
      // A server's first frame must be SETTINGS; anything else is not HTTP/2 (often an HTTP/1.1 reply).
      const text = buf.subarray(0, 40).toString('latin1').split(/\r?\n/)[0].replace(/[^\x20-\x7e]/g, '.');
      return this.fail(`the server at ${this.ep.label} does not speak HTTP/2 (it answered "${text}")`);
    }
    while (buf.length - off >= FRAME_HEADER) {
      const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (len > DEFAULT_MAX_FRAME) return this.protocolError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds our SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME}`);
      if (buf.length - off < FRAME_HEADER + len) break;
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
      off += FRAME_HEADER + len;
      this.onFrame(type, flags, id, payload);
      if (this.state === 'closed') return;
    }
    if (off < buf.length) this.rest = Buffer.from(buf.subarray(off));
  }

  /** Sends a PING unless one is pending; any frame from the peer before LIVENESS_TIMEOUT_MS proves it alive. */
  private checkLiveness(): void {
    if (this.livenessTimer || this.state === 'closed') return;
    this.socket.write(frame(Frame.PING, 0, 0, Buffer.alloc(8)));
    this.livenessTimer = setTimeout(() => this.fail(`no answer to an HTTP/2 PING from ${this.ep.label} within ${LIVENESS_TIMEOUT_MS} ms after a call's deadline passed: connection presumed dead`), LIVENESS_TIMEOUT_MS);
  }

  private onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.livenessTimer) {
      clearTimeout(this.livenessTimer);
      this.livenessTimer = undefined;
    }
    if (this.cont && type !== Frame.CONTINUATION) return this.protocolError(H2Error.PROTOCOL_ERROR, 'expected CONTINUATION');
    switch (type) {
      case Frame.DATA:
        return this.onDataFrame(flags, id, p);
      case Frame.HEADERS: {
        let start = 0;
        let end = p.length;
        if (flags & Flag.PADDED) {
          start = 1;
          end -= p[0];
        }
        if (flags & Flag.PRIORITY) start += 5;
        if (start > end) return this.protocolError(H2Error.PROTOCOL_ERROR, 'HEADERS padding exceeds the frame');
        const frag = p.subarray(start, end);
        if (flags & Flag.END_HEADERS) return this.onHeaderBlock(id, frag, (flags & Flag.END_STREAM) !== 0);
        this.cont = { id, parts: [Buffer.from(frag)], endStream: (flags & Flag.END_STREAM) !== 0 };
        return;
      }
      case Frame.CONTINUATION: {
        const c = this.cont;
        if (!c || c.id !== id) return this.protocolError(H2Error.PROTOCOL_ERROR, 'unexpected CONTINUATION');
        c.parts.push(Buffer.from(p));
        if (flags & Flag.END_HEADERS) {
          this.cont = null;
          this.onHeaderBlock(id, Buffer.concat(c.parts), c.endStream);
        }
        return;
      }
      case Frame.RST_STREAM: {
        const s = this.streams.get(id);
        if (!s || p.length !== 4) return;
        const end = process.hrtime.bigint();
        this.streams.delete(id);
        this.blocked.delete(s);
        this.decodePending();
        const code = p.readUInt32BE(0);
        s.owner.end({ ...statusFromReset(code, s.httpStatus), sentNs: s.sentNs, endNs: end, unprocessed: code === H2Error.REFUSED_STREAM || undefined });
        return this.afterStreamEnd();
      }
      case Frame.SETTINGS:
        if (flags & Flag.ACK) return;
        return this.onSettings(p);
      case Frame.PING:
        if (p.length !== 8) return;
        if (!(flags & Flag.ACK)) this.socket.write(frame(Frame.PING, Flag.ACK, 0, p));
        else if (p.readUInt32BE(0) === PING_MARK) this.onPingAck(p.readUInt32BE(4));
        return;
      case Frame.GOAWAY:
        return this.onGoaway(p);
      case Frame.WINDOW_UPDATE: {
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) this.connSendWindow += inc;
        else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += inc;
        }
        return this.flushBlocked();
      }
      case Frame.PUSH_PROMISE:
        return this.protocolError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE although SETTINGS_ENABLE_PUSH is 0');
      default:
        return; // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.5)
    }
  }

  private onPingAck(seq: number): void {
    const end = process.hrtime.bigint();
    const q = this.pings.get(seq);
    if (!q) return;
    this.pings.delete(seq);
    clearTimeout(q.timer);
    q.done(end - q.sentNs);
  }

  private onDataFrame(flags: number, id: number, p: Buffer): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    // Flow control counts the whole payload, padding included, on the connection whatever the stream.
    this.connRecvUnacked += p.length;
    if (this.connRecvUnacked >= CONNECTION_WINDOW / 2) {
      this.socket.write(windowUpdateFrame(0, this.connRecvUnacked));
      this.connRecvUnacked = 0;
    }
    const s = this.streams.get(id);
    if (!s) return;
    let data = p;
    if (flags & Flag.PADDED) {
      if (p.length === 0 || p[0] >= p.length) return this.protocolError(H2Error.PROTOCOL_ERROR, 'DATA padding exceeds the frame');
      data = p.subarray(1, p.length - p[0]);
    }
    if (data.length > 0) s.body.push(Buffer.from(data));
    if (endStream) return this.endStream(s);
    s.recvUnacked += p.length;
    if (s.recvUnacked >= STREAM_WINDOW / 2) {
      this.socket.write(windowUpdateFrame(id, s.recvUnacked));
      s.recvUnacked = 0;
    }
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    const s = this.streams.get(id);
    this.undecoded.push({ s, block: Buffer.from(block) });
    if (s && endStream) this.endStream(s);
  }

  /** The stream's last frame was just parsed: stamp first, then do the decoding the call needs. */
  private endStream(s: Stream): void {
    const end = process.hrtime.bigint();
    this.streams.delete(s.id);
    this.blocked.delete(s);
    // The server answered before our request was all sent (e.g. an early error): close our half too.
    if (s.out !== null) this.socket.write(rstStreamFrame(s.id, H2Error.CANCEL));
    if (!this.decodePending()) return;
    let st: GrpcStatus = statusFromTrailers(s.grpcStatus, s.grpcMessage, s.httpStatus, s.contentType);
    let response: Buffer | undefined;
    if (st.code === Status.OK) {
      const m = unaryMessage(s.body.length === 1 ? s.body[0] : Buffer.concat(s.body));
      if (Buffer.isBuffer(m)) response = m;
      else st = m;
    }
    s.owner.end({ code: st.code, details: st.details, response, sentNs: s.sentNs, endNs: end, upstreamTime: s.upstreamTime });
    this.afterStreamEnd();
  }

  /** Decodes every queued header block in order; false when decoding failed (the connection is then failed). */
  private decodePending(): boolean {
    while (this.undecoded.length > 0) {
      const { s, block } = this.undecoded.shift()!;
      try {
        this.dec.decode(block, (name, value) => {
          if (!s) return;
          if (name === ':status') s.httpStatus = Number(value);
          else if (name === 'content-type') s.contentType = value;
          else if (name === 'grpc-status') s.grpcStatus = value;
          else if (name === 'grpc-message') s.grpcMessage = value;
          else if (name === UPSTREAM_TIME_HEADER) s.upstreamTime = value;
        });
      } catch (e) {
        this.protocolError(H2Error.COMPRESSION_ERROR, (e as Error).message);
        return false;
      }
    }
    return true;
  }

  private afterStreamEnd(): void {
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams && this.state === 'ready') this.open(this.waiting.shift()!);
    if (this.state === 'draining' && this.streams.size === 0) this.close();
  }

  private onSettings(p: Buffer): void {
    if (p.length % 6 !== 0) return this.protocolError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS length is not a multiple of 6');
    for (let i = 0; i < p.length; i += 6) {
      const v = p.readUInt32BE(i + 2);
      switch (p.readUInt16BE(i)) {
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxStreams = v;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (v > MAX_WINDOW) return this.protocolError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          const delta = v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          for (const s of this.streams.values()) s.sendWindow += delta; // RFC 9113 §6.9.2
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME || v > 16_777_215) return this.protocolError(H2Error.PROTOCOL_ERROR, `invalid SETTINGS_MAX_FRAME_SIZE ${v}`);
          this.peerMaxFrame = v;
          break;
        default:
          // HEADER_TABLE_SIZE: we never index, so the peer's table size does not constrain us; others unused.
          break;
      }
    }
    this.socket.write(frame(Frame.SETTINGS, Flag.ACK, 0));
    if (!this.gotSettings) {
      this.setup.settingsNs = process.hrtime.bigint();
      this.gotSettings = true;
      this.state = 'ready';
      clearTimeout(this.connectTimer);
      this.events.ready();
    } else this.flushBlocked();
  }

  private onGoaway(p: Buffer): void {
    if (p.length < 8) return this.protocolError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
    const last = p.readUInt32BE(0) & 0x7fffffff;
    const code = p.readUInt32BE(4);
    const debug = p.subarray(8).toString('utf8');
    this.becomeUnusable();
    const end = process.hrtime.bigint();
    this.decodePending();
    // Streams above last-stream-id were never processed; the rest may still complete.
    for (const s of [...this.streams.values()]) {
      if (s.id <= last) continue;
      this.streams.delete(s.id);
      this.blocked.delete(s);
      s.owner.end({ code: Status.UNAVAILABLE, details: `the server is going away (GOAWAY ${h2ErrorName(code)}${debug ? `: ${debug}` : ''}); the call was not processed`, sentNs: s.sentNs, endNs: end, unprocessed: true });
    }
    for (const w of this.waiting.splice(0)) w.end({ code: Status.UNAVAILABLE, details: 'the server is going away (GOAWAY); the call was not sent', sentNs: 0n, endNs: end, unprocessed: true });
    if (this.streams.size === 0) this.close();
  }

  private becomeUnusable(): void {
    if (this.state !== 'ready' && this.state !== 'connecting') return;
    this.state = 'draining';
    this.events.unusable();
  }

  /** A connection error of the peer's making: tell it why (GOAWAY), then fail everything. */
  private protocolError(code: number, why: string): void {
    if (this.state === 'closed') return;
    this.lastError = `HTTP/2 ${h2ErrorName(code)} from ${this.ep.label}: ${why}`;
    if (this.gotSettings) this.socket.write(goawayFrame(0, code, why));
    this.socket.destroy();
  }

  private fail(why: string): void {
    this.lastError ??= why;
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.connectTimer);
    clearTimeout(this.livenessTimer);
    const wasReady = this.gotSettings;
    this.state = 'closed';
    const end = process.hrtime.bigint();
    // The decoder dies with the connection, so undecoded blocks no longer matter.
    this.undecoded.length = 0;
    const details = this.lastError ?? 'Connection dropped';
    const code = this.lastError?.startsWith('HTTP/2 ') ? Status.INTERNAL : Status.UNAVAILABLE;
    for (const s of this.streams.values()) s.owner.end({ code, details, sentNs: s.sentNs, endNs: end });
    this.streams.clear();
    this.blocked.clear();
    for (const w of this.waiting.splice(0)) w.end({ code, details, sentNs: 0n, endNs: end });
    for (const q of this.pings.values()) {
      clearTimeout(q.timer);
      q.done(undefined);
    }
    this.pings.clear();
    this.events.closed(wasReady && this.lastError === undefined ? undefined : (this.lastError ?? (wasReady ? undefined : `connection to ${this.ep.label} closed before HTTP/2 SETTINGS`)), wasReady);
  }
}
