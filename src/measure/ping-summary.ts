/**
 * Everything `rtinfer ping` reports about a run, computed from its probes (the verb in src/client/ping.ts
 * only sends them). Definitions (docs/CLIENT.md has the long form):
 * - RTT = client receive − client send on the monotonic clock; "net" RTT subtracts the server's hold
 *   time (server send − server receive wall stamps) as irtt does.
 * - jitter: RFC 3550 estimator and mean |IPDV| of consecutive arrived probes, for the RTT and for each
 *   direction (one-way transit differences need no clock sync).
 * - clock offset and one-way delays: NTP-style from the four stamps, min-delay probes (clock.ts).
 * - throughput (only with payloads): bytes carried in that direction divided by the time spent carrying
 *   them, i.e. the one-way delay of each loaded probe minus the median one-way delay of unloaded calibration
 *   probes sent first (throughput.ts). Up counts the serialized request, down the serialized response
 *   (gRPC/HTTP2 framing excluded).
 * - lost: no reply by the deadline (or any error status); late: the reply came after the next probe was
 *   sent. Both are counted and listed, never averaged away.
 */
import { ClockSample, estimateClock, oneWayDelays } from './clock';
import { createLatencyHistogram, LatencyHistogram, LatencySummary, summarize } from './histogram';
import { jitter } from './jitter';
import { transferRate } from './throughput';
import { createTimeSeries, SeriesPoint } from './timeseries';

export interface Probe {
  seq: number;
  /** 'OK' or the gRPC status name. */
  status: string;
  message?: string;
  /**
   * When the schedule meant the probe to leave, ns since the run started (measured probes only): with the
   * reported seed, `--arrivals poisson` reproduces these exactly; sent_ns − due_ns is how late it left.
   */
  due_ns?: number;
  /** Monotonic send time since the run started, ns. */
  sent_ns: number;
  rtt_ns?: number;
  /** RTT minus server hold time. */
  net_rtt_ns?: number;
  bytes_up: number;
  bytes_down?: number;
  late: boolean;
  t1_unix_nanos: bigint;
  t2_unix_nanos?: bigint;
  t3_unix_nanos?: bigint;
  t4_unix_nanos?: bigint;
  recv_ns?: number;
}

export interface JitterFigures {
  rfc3550_ms: number;
  mean_abs_ipdv_ms: number;
  max_abs_ipdv_ms: number;
  pairs: number;
}

/** How send times were scheduled: every interval, or Poisson with this seed. */
export interface PingSchedule {
  arrivals: 'constant' | 'poisson';
  mean_interval_ms: number;
  seed?: number;
}

export interface PingSummary {
  sent: number;
  received: number;
  lost: number;
  loss_percent: number;
  late: number;
  duration_s: number;
  schedule: PingSchedule;
  rtt: LatencySummary;
  net_rtt: LatencySummary;
  jitter: { rtt: JitterFigures; send: JitterFigures; receive: JitterFigures };
  clock?: {
    offset_ms: number;
    error_bound_ms: number;
    min_delay_ms: number;
    samples_used: number;
    from: 'calibration' | 'probes';
    send_delay: LatencySummary;
    receive_delay: LatencySummary;
  };
  throughput?: { up_mb_per_s?: number; down_mb_per_s?: number; up_bytes: number; down_bytes: number; calibration_probes: number };
  status_counts: Record<string, number>;
}

/** What a ping run measured, as sent by the verb. */
export interface PingRun {
  /** The measured probes, in send order. */
  probes: Probe[];
  /** When each probe was due to leave and left, ns since the run started (the late rule compares with these). */
  sentAtNs: number[];
  /** Unloaded probes sent first, one at a time (only with payloads): the throughput and clock baseline. */
  calibration: Probe[];
  schedule: PingSchedule;
  payloadBytes: number;
  responseBytes: number;
}

export interface PingResult {
  /** The run's probes, each marked late or not. */
  probes: Probe[];
  summary: PingSummary;
  series: SeriesPoint[];
  rttHistogram: LatencyHistogram;
  /** Failed probes by "STATUS: message", for the report's error list. */
  errors: Array<{ message: string; count: number }>;
}

function jitterMs(xs: Array<number | null>): JitterFigures {
  const j = jitter(xs);
  return { rfc3550_ms: j.rfc3550 / 1e6, mean_abs_ipdv_ms: j.meanAbsIpdv / 1e6, max_abs_ipdv_ms: j.maxAbsIpdv / 1e6, pairs: j.pairs };
}

function summaryOfNs(xs: number[]): LatencySummary {
  const h = createLatencyHistogram();
  for (const x of xs) h.recordNanos(Math.max(0, x));
  return summarize(h);
}

const clockSample = (p: Probe): ClockSample | undefined =>
  p.t2_unix_nanos !== undefined && p.t3_unix_nanos !== undefined && p.t4_unix_nanos !== undefined && p.t2_unix_nanos !== 0n
    ? { t1: p.t1_unix_nanos, t2: p.t2_unix_nanos, t3: p.t3_unix_nanos, t4: p.t4_unix_nanos }
    : undefined;

/** Marks the run's probes late (reply after the next probe left) and computes every reported figure. */
export function summarizePing(run: PingRun): PingResult {
  const { probes, calibration } = run;
  const loaded = run.payloadBytes > 0 || run.responseBytes > 0;

  for (let i = 0; i + 1 < probes.length; i++) {
    const r = probes[i].recv_ns;
    if (r !== undefined && r > run.sentAtNs[i + 1]) probes[i].late = true;
  }

  const ok = probes.filter((p) => p.rtt_ns !== undefined);
  const rttHist = createLatencyHistogram();
  const series = createTimeSeries();
  const statusCounts: Record<string, number> = {};
  for (const p of probes) {
    statusCounts[p.status] = (statusCounts[p.status] ?? 0) + 1;
    if (p.rtt_ns !== undefined) {
      rttHist.recordNanos(p.rtt_ns);
      series.record(p.recv_ns ?? p.sent_ns, true, p.rtt_ns, p.bytes_up, p.bytes_down ?? 0, 0);
    } else series.record(p.sent_ns, false, 0, p.bytes_up, 0, 0);
  }
  const lastEnd = Math.max(0, ...probes.map((p) => p.recv_ns ?? p.sent_ns));

  // Probes and their clock samples kept aligned (a reply without server stamps has no sample).
  const sampled = ok.filter((p) => clockSample(p) !== undefined);
  const samples = sampled.map(clockSample) as ClockSample[];
  const calSamples = calibration.map(clockSample).filter((s): s is ClockSample => s !== undefined);
  const est = estimateClock(loaded && calSamples.length > 0 ? calSamples : samples);
  let clock: PingSummary['clock'];
  let throughput: PingSummary['throughput'];
  if (est) {
    const w = oneWayDelays(samples, est.offsetNs);
    clock = {
      offset_ms: est.offsetNs / 1e6,
      error_bound_ms: est.errorBoundNs / 1e6,
      min_delay_ms: est.minDelayNs / 1e6,
      samples_used: est.samplesUsed,
      from: loaded && calSamples.length > 0 ? 'calibration' : 'probes',
      send_delay: summaryOfNs(w.sendNs),
      receive_delay: summaryOfNs(w.receiveNs),
    };
    if (loaded && calSamples.length > 0) {
      const base = oneWayDelays(calSamples, est.offsetNs);
      // Median, not minimum, calibration delay as the non-transfer baseline (throughput.ts).
      const up = transferRate(sampled.map((p) => p.bytes_up), w.sendNs, base.sendNs);
      const down = transferRate(sampled.map((p) => p.bytes_down ?? 0), w.receiveNs, base.receiveNs);
      throughput = {
        up_bytes: up.bytes,
        down_bytes: down.bytes,
        calibration_probes: calSamples.length,
        ...(run.payloadBytes > 0 && up.bytesPerS !== undefined ? { up_mb_per_s: up.bytesPerS / 1e6 } : {}),
        ...(run.responseBytes > 0 && down.bytesPerS !== undefined ? { down_mb_per_s: down.bytesPerS / 1e6 } : {}),
      };
    }
  }

  const rttSeries = probes.map((p) => (p.rtt_ns === undefined ? null : p.rtt_ns));
  const upSeries = probes.map((p) => (p.t2_unix_nanos && p.t2_unix_nanos !== 0n ? Number(p.t2_unix_nanos - p.t1_unix_nanos) : null));
  const downSeries = probes.map((p) => (p.t4_unix_nanos && p.t3_unix_nanos && p.t3_unix_nanos !== 0n ? Number(p.t4_unix_nanos - p.t3_unix_nanos) : null));
  const errorCounts = new Map<string, number>();
  for (const p of probes) {
    if (p.status === 'OK') continue;
    const key = `${p.status}: ${p.message ?? ''}`;
    errorCounts.set(key, (errorCounts.get(key) ?? 0) + 1);
  }
  const sent = probes.length;
  const lost = sent - ok.length;
  return {
    probes,
    rttHistogram: rttHist,
    series: series.points(),
    errors: [...errorCounts].map(([message, count]) => ({ message, count })),
    summary: {
      sent,
      received: ok.length,
      lost,
      loss_percent: sent === 0 ? 0 : (100 * lost) / sent,
      late: probes.filter((p) => p.late).length,
      duration_s: lastEnd / 1e9,
      schedule: run.schedule,
      rtt: summarize(rttHist),
      net_rtt: summaryOfNs(ok.map((p) => p.net_rtt_ns ?? 0)),
      jitter: { rtt: jitterMs(rttSeries), send: jitterMs(upSeries), receive: jitterMs(downSeries) },
      clock,
      throughput,
      status_counts: statusCounts,
    },
  };
}
