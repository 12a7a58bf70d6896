/**
 * What `ping` needs from a transport: send one pre-serialized unary request, get the raw response or a
 * gRPC status, and the two monotonic stamps that bound the call. Three implementations, so they can be
 * compared on the same server (`rtinfer ping --transport h2|node-http2|grpc-js`):
 * - `h2` (h2/transport.ts, the default): our own HTTP/2 client on a socket; stamps right before the socket
 *   write and when the last response frame is parsed.
 * - `node-http2` (h2/node-http2.ts): Node's HTTP/2 client; stamps right before session.request() and when
 *   the stream has closed.
 * - `grpc-js`: the channel in connect.ts via makeUnaryRequest with pass-through (de)serializers; stamps
 *   right before makeUnaryRequest and at the top of its callback, so grpc-js's own work is inside them.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Connection } from './connect';
import { Status } from '../shared/grpc-status';

export type TransportName = 'h2' | 'node-http2' | 'grpc-js';
export const TRANSPORTS: readonly TransportName[] = ['h2', 'node-http2', 'grpc-js'];

export interface UnaryOutcome {
  /** gRPC status code; 0 = OK, and then `response` is set. */
  code: number;
  details: string;
  response?: Buffer;
  /** hrtime when the request was handed to the network layer (see each transport above). */
  sentNs: bigint;
  /** hrtime when the call's outcome was known. */
  endNs: bigint;
}

export type UnaryDone = (o: UnaryOutcome) => void;

export interface UnaryTransport {
  readonly name: TransportName;
  /** Normalized target, for messages and reports. */
  readonly target: string;
  /**
   * One call on connection `index` modulo the number of connections. `deadlineMs` overrides the
   * connection's configured deadline for this call (undefined: use it).
   */
  unary(index: number, path: string, request: Buffer, done: UnaryDone, deadlineMs?: number): void;
  /**
   * An HTTP/2 PING round trip on connection `index` (ns; undefined if it could not be made), where the
   * transport can send one: `ping` wakes the path with it without a call the server counts.
   */
  ping?(index: number, done: (rttNs: bigint | undefined) => void): void;
  close(): void;
}

const passThrough = (b: Buffer): Buffer => b;

export function grpcJsTransport(conn: Connection): UnaryTransport {
  return {
    name: 'grpc-js',
    target: conn.target,
    unary(index, path, request, done, deadlineMs): void {
      const client = conn.clients[index % conn.clients.length];
      const opts = deadlineMs === undefined ? conn.callOptions() : { deadline: Date.now() + deadlineMs };
      const sentNs = process.hrtime.bigint();
      client.makeUnaryRequest(path, passThrough, passThrough, request, conn.metadata, opts, (err: grpc.ServiceError | null, raw?: Buffer) => {
        const endNs = process.hrtime.bigint();
        if (err) done({ code: err.code, details: err.details, sentNs, endNs });
        else if (!raw) done({ code: Status.INTERNAL, details: 'no response message', sentNs, endNs });
        else done({ code: 0, details: '', response: raw, sentNs, endNs });
      });
    },
    close: () => conn.close(),
  };
}
