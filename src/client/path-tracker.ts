/**
 * The per-hop decomposition of a load run (bench, stream): the PINGs alongside the calls (path-pings.ts)
 * and each successful call's stamps, header and server timing, into a PathRecorder (src/measure/path.ts).
 * Restarted when the measured phase begins, so warm-up calls are never decomposed.
 */
import { createPathRecorder, type PathRecorder, type PathSummary } from '../measure/path';
import type { ServerTiming } from '../measure/timing';
import { createPathPings, type PathPings, type PingFn } from './path-pings';
import type { PingVia } from '../measure/path';

export interface PathTracker {
  readonly pings: PathPings;
  /** A successful call on transport slot `index`, sent and ended at these hrtime stamps. */
  call(index: number, sentNs: bigint, endNs: bigint, upstreamTime: string | undefined, serverNs: number | undefined, timing: ServerTiming | undefined, serverId: string | undefined): void;
  /** A stream's response headers (x-envoy-upstream-service-time once per stream, not per frame). */
  streamHeaders(upstreamTime: string | undefined): void;
  /** The measured phase starts now: what came before is dropped. */
  restart(): void;
  summary(): PathSummary;
}

export function createPathTracker(ping: PingFn, via: PingVia, connections: number): PathTracker {
  let rec: PathRecorder = createPathRecorder();
  let t0 = process.hrtime.bigint();
  const pings = createPathPings(ping, via, connections, (c, sentNs, rttNs) => rec.ping(c, Number(sentNs - t0), rttNs === undefined ? undefined : Number(rttNs)));
  return {
    pings,
    call(index, sentNs, endNs, upstreamTime, serverNs, timing, serverId): void {
      rec.call(Number(sentNs - t0), Number(endNs - sentNs), pings.connOf(index), upstreamTime, serverNs, timing, serverId);
    },
    streamHeaders: (u) => rec.streamHeaders(u),
    restart(): void {
      rec = createPathRecorder();
      t0 = process.hrtime.bigint();
    },
    summary: () => rec.summary(via),
  };
}
