/**
 * What a load phase measured (perf_analyzer's profiler, ghz's reporter input): stamps each request when it
 * leaves and records each outcome into the latency histograms, status counts, the time series and the
 * server-timing means. The drivers decide when requests leave; the recorder only counts, in O(1) with no
 * allocation per call.
 */
import { createLatencyHistogram, LatencyHistogram } from './histogram';
import type { CallOutcome } from './call';
import { statusName } from '../shared/grpc-status';
import { addTiming, createTimingAccumulator, TimingAccumulator } from './timing';
import { createTimeSeries, SeriesPoint } from './timeseries';
import { createReplicaTable, type ReplicaRecord } from './replicas';

export interface Recorded {
  /** Latency of successful requests, ns → µs histogram; open loop: from the intended send time. */
  latency: LatencyHistogram;
  /** Latency from the actual send (service time); differs from `latency` only in open loop. */
  service: LatencyHistogram;
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  /** Open loop with overflow 'drop': requests skipped because the window was full. */
  dropped: number;
  images: number;
  bytesUp: number;
  bytesDown: number;
  statusCounts: Record<string, number>;
  /** "CODE: details" → count (the first MAX_ERROR_KINDS distinct). */
  errorMessages: Record<string, number>;
  series: SeriesPoint[];
  timing: TimingAccumulator;
  /** Open loop: requests with a schedule (sent or dropped), and those sent more than LATE_NS after it. */
  scheduled: number;
  sentLate: number;
  /** Open loop: the latest any request left after its intended time, ns (0 when none was behind). */
  maxSendLateNs: number;
  /** Calls by the replica that answered (empty when no response named one). */
  replicas: ReadonlyMap<string, ReplicaRecord>;
}

export interface Recorder {
  /**
   * A request leaves `slot` at `sentNs`, intended for `intendedNs` (phase time, ns). `paced`: it had a
   * schedule (open loop), so it counts as scheduled and, if behind it, as late.
   */
  sent(slot: number, intendedNs: number, sentNs: number, paced: boolean): void;
  /** A paced request skipped because every slot was busy. */
  dropped(): void;
  /** The call in `o.slot` ended at `endNs`. */
  ended(o: CallOutcome, endNs: number): void;
  sentCount(): number;
  completedCount(): number;
  /** Phase time of the last completion, ns (0 before any). */
  lastEndNs(): number;
  result(): Recorded;
}

/** A request sent this long after its intended time counts as late (stability.ts's self-check reports it). */
export const LATE_NS = 1e6;
const MAX_ERROR_KINDS = 20;

/**
 * `detailed` false (warm-up): only the counters a phase needs to run (sent, completed, ok, errors, bytes);
 * nothing that reaches the report.
 */
export function createRecorder(slots: number, detailed: boolean): Recorder {
  const latency = createLatencyHistogram();
  const service = createLatencyHistogram();
  const series = createTimeSeries();
  const timing = createTimingAccumulator();
  const replicas = createReplicaTable();
  const statusCounts: Record<string, number> = {};
  const errorMessages: Record<string, number> = {};
  const slotIntended = new Float64Array(slots);
  const slotSent = new Float64Array(slots);
  let errorKinds = 0;
  let sent = 0;
  let completed = 0;
  let ok = 0;
  let errors = 0;
  let dropped = 0;
  let images = 0;
  let bytesUp = 0;
  let bytesDown = 0;
  let scheduled = 0;
  let sentLate = 0;
  let maxSendLateNs = 0;
  let lastEndNs = 0;

  return {
    sent(slot, intendedNs, sentNs, paced): void {
      sent++;
      slotIntended[slot] = intendedNs;
      slotSent[slot] = sentNs;
      if (paced) {
        scheduled++;
        const behind = sentNs - intendedNs;
        if (behind > LATE_NS) sentLate++;
        if (behind > maxSendLateNs) maxSendLateNs = behind;
      }
    },
    dropped(): void {
      scheduled++;
      dropped++;
    },
    ended(o, endNs): void {
      completed++;
      lastEndNs = endNs;
      bytesUp += o.bytesUp;
      bytesDown += o.bytesDown;
      const success = o.code === 0;
      if (success) ok++;
      else errors++;
      if (!detailed) return;
      const lat = endNs - slotIntended[o.slot];
      const svc = endNs - slotSent[o.slot];
      const name = statusName(o.code);
      statusCounts[name] = (statusCounts[name] ?? 0) + 1;
      series.record(endNs, success, lat, o.bytesUp, o.bytesDown, o.images);
      if (o.replica !== undefined) replicas.record(o.replica, success, lat, o.serverTiming, svc);
      if (success) {
        images += o.images;
        latency.recordNanos(lat);
        service.recordNanos(svc);
        if (o.serverTiming) addTiming(timing, o.serverTiming, svc);
      } else {
        const key = `${name}: ${o.details ?? ''}`;
        if (errorMessages[key] !== undefined) errorMessages[key]++;
        else if (errorKinds < MAX_ERROR_KINDS) {
          errorMessages[key] = 1;
          errorKinds++;
        }
      }
    },
    sentCount: () => sent,
    completedCount: () => completed,
    lastEndNs: () => lastEndNs,
    result: () => ({ latency, service, sent, completed, ok, errors, dropped, images, bytesUp, bytesDown, statusCounts, errorMessages, series: series.points(), timing, scheduled, sentLate, maxSendLateNs, replicas: replicas.entries() }),
  };
}
