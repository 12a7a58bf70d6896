/**
 * The gRPC calls the load drivers run, one issuer per RPC. Each prebuilds its requests, one callback and
 * one outcome object per slot (src/measure/call.ts), so the hot loop allocates nothing of ours per call
 * (grpc-js allocates its own).
 * Calls are spread over the connection's channels by slot.
 */
import type * as grpc from '@grpc/grpc-js';
import { ClassifyRequest, ClassifyResponse, InferenceServiceService, PingRequest, PingResponse } from '../gen/inference/v1/inference';
import { UPSTREAM_TIME_HEADER } from '../measure/upstream-time';
import type { PathTracker } from './path-tracker';
import { outcomesPerSlot, type DoneFn, type IssueFn } from '../measure/call';
import { Connection, WIRE_BYTES, WithWireBytes } from './connect';
import type { LoadedImage } from '../shared/images';
import type { UnaryOutcome, UnaryTransport } from './unary-transport';
import { Status } from '../shared/grpc-status';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface Issuer {
  issue: IssueFn;
  /** The per-hop decomposition of the calls, when the run takes one. */
  path?: PathTracker;
  /** Ends streams; resolves when they are closed. */
  close(): Promise<void>;
}

const NO_BYTES = Buffer.alloc(0);

/** The ClassifyRequest for `im`: its bytes in `image`, or in `tensor` when the client made a tensor of them. */
export function classifyRequestOf(im: LoadedImage, topK: number, requestId = ''): ClassifyRequest {
  const tensor = im.field === 'tensor';
  return { image: tensor ? NO_BYTES : im.bytes, tensor: tensor ? im.bytes : NO_BYTES, topK, requestId, clientSendUnixNanos: 0n };
}

/** Serialized size of `im`'s ClassifyRequest (what a call sends up, without gRPC and HTTP/2 framing). */
export function classifyRequestBytes(im: LoadedImage, topK: number): number {
  return ClassifyRequest.encode(classifyRequestOf(im, topK)).finish().length;
}

function classifyRequests(images: LoadedImage[], topK: number): { reqs: ClassifyRequest[]; sizes: number[] } {
  const reqs = images.map((im) => classifyRequestOf(im, topK));
  return { reqs, sizes: reqs.map((r) => ClassifyRequest.encode(r).finish().length) };
}

/**
 * Classify over grpc-js. With `path`, the PINGs go on a separate connection (grpc-js cannot carry ours), and
 * each call's response headers are read for the edge's upstream time.
 */
export function classifyIssuer(conn: Connection, images: LoadedImage[], topK: number, slots: number, path?: PathTracker): Issuer {
  const { reqs, sizes } = classifyRequests(images, topK);
  const slotImage = new Int32Array(slots);
  const slotSentNs = new BigInt64Array(slots);
  const slotUpstream: Array<string | undefined> = new Array(slots).fill(undefined);
  const outcomes = outcomesPerSlot(slots);
  let done: DoneFn = () => undefined;
  const callbacks = Array.from({ length: slots }, (_, slot) => (err: grpc.ServiceError | null, res: ClassifyResponse) => {
    const o = outcomes[slot];
    o.bytesUp = sizes[slotImage[slot]];
    if (err) {
      o.code = err.code;
      o.bytesDown = 0;
      o.images = 0;
      o.serverTiming = undefined;
      o.details = err.details;
      o.replica = undefined;
    } else {
      o.code = 0;
      o.bytesDown = (res as WithWireBytes)[WIRE_BYTES] ?? 0;
      o.images = 1;
      o.serverTiming = res.timing;
      o.details = undefined;
      o.replica = res.serverId || undefined;
      path?.call(slot, slotSentNs[slot], process.hrtime.bigint(), slotUpstream[slot], res.timing ? Number(res.timing.totalNanos) : undefined, res.timing, o.replica);
    }
    done(o);
  });
  return {
    issue(slot, seq, d): void {
      done = d;
      const i = seq % reqs.length;
      slotImage[slot] = i;
      slotSentNs[slot] = process.hrtime.bigint();
      const call = conn.clients[slot % conn.clients.length].classify(reqs[i], conn.metadata, conn.callOptions(), callbacks[slot]);
      if (path) {
        slotUpstream[slot] = undefined;
        call.on('metadata', (m: grpc.Metadata) => (slotUpstream[slot] = m.get(UPSTREAM_TIME_HEADER)[0]?.toString()));
        path.pings.afterCall(slot);
      }
    },
    path,
    close: async () => undefined,
  };
}

/**
 * Ping under load goes below the generated stub: the request is serialised once for the whole run and sent
 * as bytes, and the response is not decoded at all (only its size is used), so each call costs the
 * transport's own work and nothing of ours — this verb measures how many calls/s the server and transport
 * carry. The transport is ping's own HTTP/2 client (src/client/h2/, the default) or grpc-js
 * (unary-transport.ts).
 */
const PING_PATH = InferenceServiceService.ping.path;
const CLASSIFY_PATH = InferenceServiceService.classify.path;

/**
 * PingResponse.server_id (field 8) read straight from the wire, skipping the other fields (padding can be
 * megabytes; skipping it costs nothing), so ping load is split by replica without decoding responses.
 * Undefined when absent or the bytes are not a valid message.
 */
export function pingServerId(b: Buffer): string | undefined {
  const r = new BinaryReader(b);
  try {
    while (r.pos < r.len) {
      const [field, type] = r.tag();
      if (field === PING_SERVER_ID_FIELD && type === WireType.LengthDelimited) return r.string() || undefined;
      r.skip(type);
    }
  } catch {
    return undefined;
  }
  return undefined;
}
const PING_SERVER_ID_FIELD = 8;

/**
 * With `path`, each response is decoded after the call's end stamp for the server's hold time, and an
 * HTTP/2 PING follows a call now and then (path-pings.ts).
 */
export function pingIssuer(t: UnaryTransport, payloadBytes: number, responseBytes: number, slots: number, path?: PathTracker): Issuer {
  const req: PingRequest = { seq: 0n, payload: Buffer.alloc(payloadBytes, 0x5a), responseBytes, echoPayload: false, clientSendUnixNanos: 0n };
  const bytes = Buffer.from(PingRequest.encode(req).finish());
  const up = bytes.length;
  const outcomes = outcomesPerSlot(slots);
  for (const o of outcomes) o.bytesUp = up;
  let done: DoneFn = () => undefined;
  const callbacks = Array.from({ length: slots }, (_, slot) => (u: UnaryOutcome) => {
    const o = outcomes[slot];
    o.code = u.code;
    o.bytesDown = u.code === 0 ? (u.response?.length ?? 0) : 0;
    o.details = u.code === 0 ? undefined : u.details;
    o.replica = undefined;
    if (path && u.code === 0 && u.response) {
      // The decomposition needs the server's hold time, so the response is decoded (after the end stamp).
      try {
        const res = PingResponse.decode(u.response);
        o.replica = res.serverId || undefined;
        path.call(slot, u.sentNs, u.endNs, u.upstreamTime, Number(res.serverSendUnixNanos - res.serverReceiveUnixNanos), undefined, o.replica);
      } catch {
        // Not a PingResponse: counted by the transport's status alone; nothing to decompose.
      }
    } else if (u.code === 0 && u.response) o.replica = pingServerId(u.response);
    done(o);
  });
  return {
    issue(slot, _seq, d): void {
      done = d;
      t.unary(slot, PING_PATH, bytes, callbacks[slot]);
      path?.pings.afterCall(slot);
    },
    path,
    close: async () => undefined,
  };
}

/**
 * Classify over a UnaryTransport (our own HTTP/2 client by default): requests encoded once for the run,
 * responses decoded after the call's end stamp, so neither is inside the timed region; an HTTP/2 PING
 * follows a call on its own connection now and then when `path` is given.
 */
export function classifyUnaryIssuer(t: UnaryTransport, images: LoadedImage[], topK: number, slots: number, path?: PathTracker): Issuer {
  const { reqs, sizes } = classifyRequests(images, topK);
  const bytes = reqs.map((r) => Buffer.from(ClassifyRequest.encode(r).finish()));
  const slotImage = new Int32Array(slots);
  const outcomes = outcomesPerSlot(slots);
  let done: DoneFn = () => undefined;
  const callbacks = Array.from({ length: slots }, (_, slot) => (u: UnaryOutcome) => {
    const o = outcomes[slot];
    o.bytesUp = sizes[slotImage[slot]];
    o.code = u.code;
    o.details = u.code === 0 ? undefined : u.details;
    o.bytesDown = 0;
    o.images = 0;
    o.serverTiming = undefined;
    o.replica = undefined;
    if (u.code === 0 && u.response) {
      try {
        const res = ClassifyResponse.decode(u.response);
        o.bytesDown = u.response.length;
        o.images = 1;
        o.serverTiming = res.timing;
        o.replica = res.serverId || undefined;
        path?.call(slot, u.sentNs, u.endNs, u.upstreamTime, res.timing ? Number(res.timing.totalNanos) : undefined, res.timing, res.serverId || undefined);
      } catch (e) {
        o.code = Status.INTERNAL;
        o.details = `response is not a valid ClassifyResponse: ${(e as Error).message}`;
      }
    }
    done(o);
  });
  return {
    issue(slot, seq, d): void {
      done = d;
      const i = seq % reqs.length;
      slotImage[slot] = i;
      t.unary(slot, CLASSIFY_PATH, bytes[i], callbacks[slot]);
      path?.pings.afterCall(slot);
    },
    path,
    close: async () => undefined,
  };
}

/**
 * ClassifyStream: one bidirectional stream per channel; slot s writes frames with request_id "s" and the
 * response carrying that id completes it. A frame error (response.error) completes only that frame; a
 * stream that ends with an error fails every frame in flight on it, and the next frame opens a new stream.
 */
export function streamIssuer(conn: Connection, images: LoadedImage[], topK: number, slots: number, path?: PathTracker): Issuer {
  const { reqs: base, sizes } = classifyRequests(images, topK);
  const slotReq: ClassifyRequest[] = Array.from({ length: slots }, (_, s) => ({ ...base[0], requestId: String(s) }));
  const slotImage = new Int32Array(slots);
  const slotStream = new Int32Array(slots).fill(-1);
  const streams: Array<grpc.ClientDuplexStream<ClassifyRequest, ClassifyResponse> | undefined> = new Array(conn.clients.length);
  const inFlight: Array<Set<number>> = conn.clients.map(() => new Set<number>());
  const ended: Array<Promise<void>> = [];
  const outcomes = outcomesPerSlot(slots);
  const slotSentNs = new BigInt64Array(slots);
  let done: DoneFn = () => undefined;
  /** The response for `slot`'s frame came: a result, or that frame's own error. */
  const answered = (slot: number, res: ClassifyResponse): void => {
    if (path && !res.error) path.call(slot, slotSentNs[slot], process.hrtime.bigint(), undefined, res.timing ? Number(res.timing.totalNanos) : undefined, res.timing, res.serverId || undefined);
    const o = outcomes[slot];
    o.code = res.error ? res.error.code : 0;
    o.bytesUp = sizes[slotImage[slot]];
    o.bytesDown = (res as WithWireBytes)[WIRE_BYTES] ?? 0;
    o.images = res.error ? 0 : 1;
    o.serverTiming = res.error ? undefined : res.timing;
    o.details = res.error?.message;
    o.replica = res.serverId || undefined;
    done(o);
  };
  /** The stream failed with `slot`'s frame in flight: nothing came back for it. */
  const failed = (slot: number, code: number, details: string): void => {
    const o = outcomes[slot];
    o.code = code;
    o.bytesUp = sizes[slotImage[slot]];
    o.bytesDown = 0;
    o.images = 0;
    o.serverTiming = undefined;
    o.details = details;
    o.replica = undefined;
    done(o);
  };

  const open = (ch: number): grpc.ClientDuplexStream<ClassifyRequest, ClassifyResponse> => {
    const call = conn.clients[ch].classifyStream(conn.metadata);
    streams[ch] = call;
    if (path) call.on('metadata', (m: grpc.Metadata) => path.streamHeaders(m.get(UPSTREAM_TIME_HEADER)[0]?.toString()));
    const mine = inFlight[ch];
    call.on('data', (res: ClassifyResponse) => {
      const slot = Number(res.requestId);
      if (!mine.delete(slot)) return; // not ours (or already failed): ignore rather than double-count
      answered(slot, res);
    });
    const fail = (code: number, msg: string): void => {
      if (streams[ch] === call) streams[ch] = undefined;
      for (const slot of [...mine]) {
        mine.delete(slot);
        failed(slot, code, msg);
      }
    };
    ended.push(
      new Promise<void>((resolve) => {
        call.on('error', (e: grpc.ServiceError) => {
          fail(e.code ?? Status.UNKNOWN, e.details ?? e.message);
          resolve();
        });
        call.on('status', () => resolve());
        call.on('end', () => {
          fail(Status.UNKNOWN, 'stream ended with frames in flight');
          resolve();
        });
      }),
    );
    return call;
  };

  return {
    issue(slot, seq, d): void {
      done = d;
      const ch = slot % conn.clients.length;
      const call = streams[ch] ?? open(ch);
      const i = seq % base.length;
      slotImage[slot] = i;
      slotStream[slot] = ch;
      const req = slotReq[slot];
      req.image = base[i].image;
      req.tensor = base[i].tensor;
      inFlight[ch].add(slot);
      slotSentNs[slot] = process.hrtime.bigint();
      call.write(req); // serializes synchronously, so the shared request object may change afterwards
      path?.pings.afterCall(slot);
    },
    path,
    async close(): Promise<void> {
      for (const s of streams) s?.end();
      await Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, 2000).unref())]);
    },
  };
}
