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
import type { ConnectionSetup } from '../measure/connection-setup';
import { UPSTREAM_TIME_HEADER } from '../measure/upstream-time';

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
  /** The response's x-envoy-upstream-service-time, raw, when it carried one (the edge's upstream time). */
  upstreamTime?: string;
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
  /**
   * Replaces connection `index` with a fresh one, opened now (calls in flight finish on the old one), where
   * the transport can: `ping --new-connection-every`.
   */
  renew?(index: number): void;
  /** Set-up timings of every connection opened so far, where the transport can observe them. */
  connectionSetups?(): ConnectionSetup[];
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
      let upstreamTime: string | undefined;
      const call = client.makeUnaryRequest(path, passThrough, passThrough, request, conn.metadata, opts, (err: grpc.ServiceError | null, raw?: Buffer) => {
        const endNs = process.hrtime.bigint();
        if (err) done({ code: err.code, details: err.details, sentNs, endNs, upstreamTime });
        else if (!raw) done({ code: Status.INTERNAL, details: 'no response message', sentNs, endNs, upstreamTime });
        else done({ code: 0, details: '', response: raw, sentNs, endNs, upstreamTime });
      });
      call.on('metadata', (m: grpc.Metadata) => {
        const v = m.get(UPSTREAM_TIME_HEADER)[0];
        if (v !== undefined) upstreamTime = String(v);
      });
    },
    close: () => conn.close(),
  };
}
