/**
 * Calls split by the replica that answered (the response's server_id): behind a load balancer, one slow or
 * failing replica hides in the pooled figures, so each replica gets its own counts, latency histogram and
 * server-timing means. Recorded in O(1) per call; the table is bounded so a server that names itself anew
 * on every response cannot grow the client's memory.
 */
import { createLatencyHistogram, encodeHdr, type LatencyHistogram, type LatencySummary, summarize } from './histogram';
import { addTiming, createTimingAccumulator, type ServerTiming, summarizeTiming, type TimingAccumulator, type TimingSummary } from './timing';

/** Replicas tracked by name; calls from any further replica are pooled under OTHER_REPLICAS. */
export const MAX_REPLICAS = 32;
export const OTHER_REPLICAS = '(other replicas)';

export interface ReplicaRecord {
  ok: number;
  errors: number;
  latency: LatencyHistogram;
  timing: TimingAccumulator;
}

export interface ReplicaTable {
  /** A call answered by `replica` (errors count only when the error response named its replica). */
  record(replica: string, success: boolean, latencyNs: number, timing: ServerTiming | undefined, serviceNs: number): void;
  entries(): ReadonlyMap<string, ReplicaRecord>;
}

export function createReplicaTable(): ReplicaTable {
  const byName = new Map<string, ReplicaRecord>();
  return {
    record(replica, success, latencyNs, timing, serviceNs): void {
      let r = byName.get(replica);
      if (!r) {
        const name = byName.size < MAX_REPLICAS ? replica : OTHER_REPLICAS;
        r = byName.get(name);
        if (!r) {
          r = { ok: 0, errors: 0, latency: createLatencyHistogram(), timing: createTimingAccumulator() };
          byName.set(name, r);
        }
      }
      if (!success) {
        r.errors++;
        return;
      }
      r.ok++;
      r.latency.recordNanos(latencyNs);
      if (timing) addTiming(r.timing, timing, serviceNs);
    },
    entries: () => byName,
  };
}

/** One replica's figures in the --json summary (`summary.replicas[]`). */
export interface ReplicaSummary {
  server_id: string;
  ok: number;
  errors: number;
  /** This replica's OK responses ÷ all OK responses that named a replica. */
  share: number;
  /** `hdr`: the histogram itself, lossless (histogram.ts encodeHdr), so `report --merge` can add agents' replicas exactly. */
  latency: LatencySummary & { hdr?: string };
  server_timing: TimingSummary;
}

/** Replicas in name order (stable across runs, so two reports line up). */
export function summarizeReplicas(t: ReadonlyMap<string, ReplicaRecord>): ReplicaSummary[] {
  let okAll = 0;
  for (const r of t.values()) okAll += r.ok;
  return [...t.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([server_id, r]) => ({
      server_id,
      ok: r.ok,
      errors: r.errors,
      share: okAll > 0 ? r.ok / okAll : 0,
      latency: { ...summarize(r.latency), hdr: encodeHdr(r.latency) },
      server_timing: summarizeTiming(r.timing),
    }));
}
