/**
 * The HTTP/2 PINGs that measure the client↔peer round trip alongside the calls (src/measure/path.ts pairs
 * each call with the nearest one). A PING is written right after a call's request, on the same connection,
 * when that connection has no PING in flight and sent none in the last PATH_PING_MIN_GAP_MS: so it queues
 * behind the request's bytes as the call did, a slow client→peer link shows in it, and at most 100 PINGs a
 * second per connection (17 bytes each way) ride with the load, never on an idle path between calls.
 *
 * `same-connection` on our own HTTP/2 transport. grpc-js and node:http2 do not let us write a PING on the
 * connection of their calls and read its ACK time, so with them the PINGs go on one separate HTTP/2
 * connection of ours to the same peer (`separate-connection`, said in the output): it crosses the same
 * links and the same edge, but not the calls' own connection (no queueing behind their bytes in the
 * sender's buffer).
 */
import type { PingVia } from '../measure/path';

export const PATH_PING_MIN_GAP_MS = 10;

export type PingFn = (index: number, done: (rttNs: bigint | undefined) => void) => void;

export interface PathPings {
  readonly via: PingVia;
  /** The connection index the PINGs of calls on transport slot `index` travel on (pairing key). */
  connOf(index: number): number;
  /** A call just left on transport slot `index`. */
  afterCall(index: number): void;
  /** Resolves when no PING is in flight any more (each is bounded by the transport's PING timeout). */
  settled(): Promise<void>;
  /** A PING is in flight (its ACK must be read at once: `ping` does not block its thread meanwhile). */
  busy(): boolean;
}

/**
 * `ping`: the transport's PING on slot index (or the separate connection's, for every slot); `connections`:
 * how many slots map to distinct connections; `record` gets each PING when it settles (send stamp, RTT),
 * after it stopped counting as in flight.
 */
export function createPathPings(ping: PingFn, via: PingVia, connections: number, record: (conn: number, sentNs: bigint, rttNs: bigint | undefined) => void): PathPings {
  const n = via === 'same-connection' ? Math.max(1, Math.floor(connections)) : 1;
  const busy = new Uint8Array(n);
  const lastSentNs: bigint[] = new Array<bigint>(n).fill(0n);
  const gapNs = BigInt(PATH_PING_MIN_GAP_MS * 1e6);
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const connOf = (index: number): number => index % n;
  return {
    via,
    connOf,
    afterCall(index): void {
      const c = connOf(index);
      if (busy[c]) return;
      const now = process.hrtime.bigint();
      if (lastSentNs[c] !== 0n && now - lastSentNs[c] < gapNs) return;
      busy[c] = 1;
      lastSentNs[c] = now;
      inFlight++;
      ping(via === 'same-connection' ? index : 0, (rtt) => {
        busy[c] = 0;
        const last = --inFlight === 0;
        record(c, now, rtt);
        if (last) idle?.();
      });
    },
    settled: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idle = resolve))),
    busy: () => inFlight > 0,
  };
}
