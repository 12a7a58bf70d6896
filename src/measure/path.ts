/**
 * Where the time of a call goes on the path: each successful call split into the hops the client can
 * observe honestly (docs/CLIENT.md, "Per-hop decomposition"):
 * - client↔edge RTT: the HTTP/2 PING paired with the call (ping-pairing.ts), answered by the immediate peer:
 *   the edge when there is one, else the server's HTTP/2 stack;
 * - edge upstream: the edge's `x-envoy-upstream-service-time` (upstream-time.ts), 1 ms resolution;
 * - server: the server's own `Timing.total_nanos` (Ping: its hold time, send − receive stamps), with stages;
 * - edge→server network = edge upstream − server (clamped at 0);
 * - unexplained ("other") = e2e − client↔edge RTT − edge upstream (no edge: − server), clamped at 0: edge and
 *   client processing. A residual below zero is never hidden: it is counted, and counted apart when it is
 *   beyond the resolution of the figures it came from (the header's 1 ms; none without an edge).
 * Each hop is summarised over the calls that have it; the p50s of the hops need not add up to the p50 of
 * the end-to-end latency (each is a different call's value).
 */
import { createLatencyHistogram, LatencySummary, summarize } from './histogram';
import { pairNearest, type PingTrack } from './ping-pairing';
import { nearestRankSorted, sortedCopy } from './stats';
import type { ServerTiming } from './timing';
import { parseUpstreamTime, UPSTREAM_TIME_RESOLUTION_MS } from './upstream-time';

export const SERVER_STAGES = ['queue', 'decode', 'preprocess', 'inference', 'postprocess'] as const;
export type ServerStage = (typeof SERVER_STAGES)[number];

/** How the client↔edge PINGs relate to the calls. */
export type PingVia = 'same-connection' | 'separate-connection';

export interface PathReplica {
  server_id: string;
  count: number;
  server_ms: LatencySummary;
  edge_server_network_ms: LatencySummary | null;
}

export interface PathSeriesPoint {
  /** Second of the run in which the calls were sent. */
  t_s: number;
  calls: number;
  client_edge_rtt_p50_ms: number | null;
  edge_server_network_p50_ms: number | null;
  server_p50_ms: number | null;
  unexplained_p50_ms: number | null;
}

export interface PathSummary {
  /** Some response (or a stream's response headers) carried a usable x-envoy-upstream-service-time. */
  edge_detected: boolean;
  /**
   * false: the header came once per stream, not per call (ClassifyStream), so there is no edge upstream
   * time per frame and edge→server stays inside "unexplained".
   */
  edge_time_per_call: boolean;
  edge_header: { present: number; absent: number; garbage: number };
  /** Resolution of the edge figures (the header's), ms. */
  edge_resolution_ms: number;
  pings_via: PingVia;
  /** Successful calls decomposed. */
  calls: number;
  client_edge_rtt_ms: LatencySummary | null;
  edge_upstream_ms: LatencySummary | null;
  edge_server_network_ms: LatencySummary | null;
  server_ms: LatencySummary | null;
  server_stages_ms?: Record<ServerStage, LatencySummary>;
  unexplained_ms: LatencySummary | null;
  /** Calls whose hops added up to more than their e2e: any amount, and beyond the resolution. */
  negative_residual: { count: number; beyond_resolution: number; max_ms: number };
  /** Calls whose edge upstream time was below the server's own total beyond the header's resolution. */
  negative_edge_server: { count: number; max_ms: number };
  pings: { sent: number; answered: number; paired_calls: number; gap_p50_ms: number | null; gap_max_ms: number | null };
  /** Only when responses named more than one server_id. */
  replicas?: PathReplica[];
  series: PathSeriesPoint[];
}

export interface PathRecorder {
  /**
   * One successful call: sent at `atNs` (run time) on connection `conn`, `e2eNs` long; the edge header's raw
   * value; the server's total and stages (undefined when the response has none); the replica's id.
   */
  call(atNs: number, e2eNs: number, conn: number, upstreamHeader: string | undefined, serverNs: number | undefined, timing: ServerTiming | undefined, serverId: string | undefined): void;
  /** One HTTP/2 PING on connection `conn`, sent at `atNs` (run time); `rttNs` undefined when unanswered. */
  ping(conn: number, atNs: number, rttNs: number | undefined): void;
  /** A stream's response headers: the edge announces itself there, once per stream. */
  streamHeaders(upstreamHeader: string | undefined): void;
  /** Calls recorded so far. */
  count(): number;
  summary(via: PingVia): PathSummary;
}

const STAGE_FIELD: Record<ServerStage, keyof ServerTiming> = {
  queue: 'queueNanos',
  decode: 'decodeNanos',
  preprocess: 'preprocessNanos',
  inference: 'inferenceNanos',
  postprocess: 'postprocessNanos',
};

function summaryOf(xs: number[]): LatencySummary | null {
  if (xs.length === 0) return null;
  const h = createLatencyHistogram();
  for (const x of xs) h.recordNanos(x);
  return summarize(h);
}

const p50Ms = (xs: number[]): number | null => (xs.length === 0 ? null : nearestRankSorted(sortedCopy(xs), 50) / 1e6);

/**
 * Columns, one entry per call (NaN where a call has no value), so recording allocates nothing per call
 * beyond the arrays' amortised growth.
 */
export function createPathRecorder(): PathRecorder {
  const at: number[] = [];
  const e2e: number[] = [];
  const conn: number[] = [];
  const upstreamNs: number[] = [];
  const server: number[] = [];
  const stages: Record<ServerStage, number[]> = { queue: [], decode: [], preprocess: [], inference: [], postprocess: [] };
  const replica: number[] = [];
  const replicaIds: string[] = [];
  const replicaIndex = new Map<string, number>();
  const header = { present: 0, absent: 0, garbage: 0 };
  const tracks = new Map<number, PingTrack>();
  let pingsSent = 0;
  let pingsAnswered = 0;
  let streamEdge = false;

  return {
    call(atNs, e2eNs, c, upstreamHeader, serverNs, timing, serverId): void {
      at.push(atNs);
      e2e.push(e2eNs);
      conn.push(c);
      const u = parseUpstreamTime(upstreamHeader);
      if (u.kind === 'ms') header.present++;
      else if (u.kind === 'absent') header.absent++;
      else header.garbage++;
      upstreamNs.push(u.kind === 'ms' ? u.ms * 1e6 : NaN);
      server.push(serverNs ?? NaN);
      for (const s of SERVER_STAGES) stages[s].push(timing ? Number(timing[STAGE_FIELD[s]]) : NaN);
      let r = -1;
      if (serverId) {
        r = replicaIndex.get(serverId) ?? -1;
        if (r < 0) {
          r = replicaIds.length;
          replicaIds.push(serverId);
          replicaIndex.set(serverId, r);
        }
      }
      replica.push(r);
    },
    ping(c, atNs, rttNs): void {
      pingsSent++;
      if (rttNs !== undefined) pingsAnswered++;
      let t = tracks.get(c);
      if (!t) tracks.set(c, (t = { atNs: [], rttNs: [] }));
      t.atNs.push(atNs);
      t.rttNs.push(rttNs ?? NaN);
    },
    streamHeaders(u): void {
      if (parseUpstreamTime(u).kind === 'ms') streamEdge = true;
    },
    count: () => at.length,
    summary(via): PathSummary {
      for (const t of tracks.values()) {
        // PINGs are recorded when they settle; pairing wants them in send order.
        const order = t.atNs.map((_, i) => i).sort((a, b) => t.atNs[a] - t.atNs[b]);
        t.atNs = order.map((i) => t.atNs[i]);
        t.rttNs = order.map((i) => t.rttNs[i]);
      }
      const pairing = pairNearest(at, conn, tracks);
      const rtt: number[] = [];
      const up: number[] = [];
      const esn: number[] = [];
      const srv: number[] = [];
      const other: number[] = [];
      const gaps: number[] = [];
      const neg = { count: 0, beyond_resolution: 0, max_ms: 0 };
      const negEsn = { count: 0, max_ms: 0 };
      const resNs = UPSTREAM_TIME_RESOLUTION_MS * 1e6;
      const perCall = { rtt: [] as number[], esn: [] as number[], other: [] as number[] };
      for (let i = 0; i < at.length; i++) {
        const r = pairing.rttNs[i];
        const u = upstreamNs[i];
        const s = server[i];
        let callEsn = NaN;
        let callOther = NaN;
        if (!Number.isNaN(r)) {
          rtt.push(r);
          gaps.push(pairing.gapNs[i]);
        }
        if (!Number.isNaN(s)) srv.push(s);
        if (!Number.isNaN(u)) {
          up.push(u);
          if (!Number.isNaN(s)) {
            callEsn = u - s;
            if (callEsn < -resNs) {
              negEsn.count++;
              negEsn.max_ms = Math.max(negEsn.max_ms, -callEsn / 1e6);
            }
            callEsn = Math.max(0, callEsn);
            esn.push(callEsn);
          }
        }
        const inner = Number.isNaN(u) ? s : u;
        if (!Number.isNaN(r) && !Number.isNaN(inner)) {
          const resid = e2e[i] - r - inner;
          if (resid < 0) {
            neg.count++;
            neg.max_ms = Math.max(neg.max_ms, -resid / 1e6);
            if (!Number.isNaN(u) ? resid < -resNs : true) neg.beyond_resolution++;
          }
          callOther = Math.max(0, resid);
          other.push(callOther);
        }
        perCall.rtt.push(r);
        perCall.esn.push(callEsn);
        perCall.other.push(callOther);
      }
      const stageSummaries = {} as Record<ServerStage, LatencySummary>;
      let haveStages = false;
      for (const s of SERVER_STAGES) {
        const xs = stages[s].filter((x) => !Number.isNaN(x));
        if (xs.length > 0) haveStages = true;
        stageSummaries[s] = summaryOf(xs) ?? summarize(createLatencyHistogram());
      }
      const sortedGaps = sortedCopy(gaps);
      return {
        edge_detected: header.present > 0 || streamEdge,
        edge_time_per_call: header.present > 0 || !streamEdge,
        edge_header: { ...header },
        edge_resolution_ms: UPSTREAM_TIME_RESOLUTION_MS,
        pings_via: via,
        calls: at.length,
        client_edge_rtt_ms: summaryOf(rtt),
        edge_upstream_ms: summaryOf(up),
        edge_server_network_ms: summaryOf(esn),
        server_ms: summaryOf(srv),
        ...(haveStages ? { server_stages_ms: stageSummaries } : {}),
        unexplained_ms: summaryOf(other),
        negative_residual: neg,
        negative_edge_server: negEsn,
        pings: {
          sent: pingsSent,
          answered: pingsAnswered,
          paired_calls: gaps.length,
          gap_p50_ms: gaps.length === 0 ? null : nearestRankSorted(sortedGaps, 50) / 1e6,
          gap_max_ms: gaps.length === 0 ? null : sortedGaps[sortedGaps.length - 1] / 1e6,
        },
        ...(replicaIds.length > 1 ? { replicas: replicasOf(replicaIds, replica, server, perCall.esn) } : {}),
        series: seriesOf(at, perCall.rtt, perCall.esn, server, perCall.other),
      };
    },
  };
}

function replicasOf(ids: string[], replica: number[], server: number[], esn: number[]): PathReplica[] {
  return ids.map((id, r) => {
    const srv: number[] = [];
    const net: number[] = [];
    for (let i = 0; i < replica.length; i++) {
      if (replica[i] !== r) continue;
      if (!Number.isNaN(server[i])) srv.push(server[i]);
      if (!Number.isNaN(esn[i])) net.push(esn[i]);
    }
    const count = replica.filter((x) => x === r).length;
    return { server_id: id, count, server_ms: summaryOf(srv) ?? summarize(createLatencyHistogram()), edge_server_network_ms: summaryOf(net) };
  });
}

/** p50 of each hop per whole second of send time. */
function seriesOf(at: number[], rtt: number[], esn: number[], server: number[], other: number[]): PathSeriesPoint[] {
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < at.length; i++) {
    const s = Math.floor(at[i] / 1e9);
    let b = buckets.get(s);
    if (!b) buckets.set(s, (b = []));
    b.push(i);
  }
  const pick = (xs: number[], idx: number[]): number[] => idx.map((i) => xs[i]).filter((x) => !Number.isNaN(x));
  return [...buckets.keys()]
    .sort((a, b) => a - b)
    .map((t) => {
      const idx = buckets.get(t)!;
      return {
        t_s: t,
        calls: idx.length,
        client_edge_rtt_p50_ms: p50Ms(pick(rtt, idx)),
        edge_server_network_p50_ms: p50Ms(pick(esn, idx)),
        server_p50_ms: p50Ms(pick(server, idx)),
        unexplained_p50_ms: p50Ms(pick(other, idx)),
      };
    });
}
