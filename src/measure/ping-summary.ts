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
 * - timer error (irtt's term): actual send − scheduled send of each measured probe, i.e. how late our own
 *   wait let it leave. It is the client's share of any delay; RTT does not include it.
 * - warm reference: extra probes, each sent a few ms after a warm-up exchange, so their RTT is that of an
 *   awake path. They are kept out of every figure above and summarised on their own; when the measured RTT
 *   exceeds theirs by more than WAKE_UP_THRESHOLD, the summary flags idle wake-up
 *   (docs/decisions/0015-ping-idle-wake-up-disclosure.md).
 */
import { ClockSample, estimateClock, oneWayDelays } from './clock';
import { createLatencyHistogram, LatencyHistogram, LatencySummary, summarize } from './histogram';
import { jitter } from './jitter';
import { nearestRankSorted, sortedCopy } from './stats';
import { transferRate } from './throughput';
import { createTimeSeries, SeriesPoint } from './timeseries';
import { createPathRecorder, type PathSummary, type PingVia } from './path';
import { attributeLoss, type LossByDirection, type SessionCall } from './loss-direction';
import { summarizeSetups, type ConnectionSetup, type ConnectionSetupSummary } from './connection-setup';

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
  /** Measured probes: actual send (the transport's send stamp) − due_ns, ns. */
  timer_error_ns?: number;
  /** Set on a warm-reference probe: sent shortly after a warm-up exchange, right after measured probe `seq`. */
  warm_reference?: true;
  /** The transport's send stamp (right before the socket write), ns since the run started. */
  wire_sent_ns?: number;
  /** The reply's x-envoy-upstream-service-time, raw (present when an edge set it). */
  upstream_time?: string;
  /** The replica that answered (PingResponse.server_id), when the server names itself. */
  server_id?: string;
  /** The server's per-session counters in the reply (loss-direction.ts); absent when it keeps none. */
  session_pings_received?: number;
  session_highest_seq?: number;
  /** --new-connection-every: the first measured probe on a freshly opened connection (the cold path). */
  first_on_connection?: true;
  /** The transport never wrote the probe (no connection could be made): it never reached a server. */
  never_sent?: true;
}

/** One HTTP/2 PING sent alongside the probes (path-pings.ts): connection, send time since the run started, RTT. */
export interface PathPing {
  conn: number;
  at_ns: number;
  /** Absent: never answered. */
  rtt_ns?: number;
}

/** Order statistics of raw samples, ms. */
export interface SpreadMs {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * When the warning fires: the measured p50 RTT exceeds the warm reference's p50 by more than both. Either
 * alone misleads: 50 % of a 0.1 ms RTT is scheduling noise, and 1 ms on a 50 ms WAN path is jitter.
 */
export const WAKE_UP_THRESHOLD = { min_excess_ms: 1, min_excess_percent: 50, min_samples: 3 } as const;

/** How the warm-reference probes were taken (PingRun.warmReference). */
export interface WarmReferencePlan {
  /** What woke the path first: an HTTP/2 PING on the probe's connection, or an extra probe (not counted). */
  warm_up: 'http2-ping' | 'probe';
  /** Pause between the warm-up's answer and the reference probe, ms. */
  lead_ms: number;
}

export interface KeepWarmInfo {
  via: 'http2-ping' | 'probe';
  interval_ms: number;
  /** Keep-warm exchanges sent during the run (none while a measured probe is in flight). */
  sent: number;
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
  /** Timer error of the measured probes (absent when they carry no schedule). */
  timer_error?: SpreadMs;
  /** Warm-reference probes (absent when none were taken: see PingRun.warmReference). */
  warm_reference?: WarmReferencePlan & { sent: number; received: number; rtt: SpreadMs };
  /** Measured vs warm-reference p50 RTT; `warning` per WAKE_UP_THRESHOLD. */
  wake_up?: { rtt_p50_ms: number; warm_p50_ms: number; excess_ms: number; excess_percent: number; warning: boolean };
  /** --keep-warm: the path was kept awake between probes, so the RTT is that of an awake path. */
  keep_warm: boolean;
  keep_warm_traffic?: KeepWarmInfo;
  /** Per-hop decomposition (path.ts); absent when no PINGs were sent alongside (--no-path). */
  path?: PathSummary;
  /** The lost probes split by direction (loss-direction.ts); late replies are not losses and stay in `late`. */
  loss: LossByDirection;
  /** Set-up of every connection the run opened (absent when the transport cannot observe it: grpc-js). */
  connections?: ConnectionSetup[];
  connection_setup?: ConnectionSetupSummary;
  /** --new-connection-every: RTT of the first probe on each fresh connection vs all the others. */
  cold_path?: { new_connection_every: number; cold_rtt: SpreadMs; warm_rtt: SpreadMs };
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
  /** Warm-reference probes (`warm_reference: true`), and how they were taken; none when omitted. */
  references?: Probe[];
  warmReference?: WarmReferencePlan;
  /** Set when --keep-warm was on. */
  keepWarm?: KeepWarmInfo;
  /** PINGs sent alongside the measured probes; `connections`: distinct connections they went on. */
  path?: { via: PingVia; connections: number; pings: PathPing[] };
  /** Every Ping call of the session in send order (warm-up, calibration, measured, references, a tally). */
  session?: SessionCall[];
  setups?: ConnectionSetup[];
  newConnectionEvery?: number;
}

export interface PingResult {
  /** The run's measured probes, each marked late or not, then its warm-reference probes. */
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

function spreadMs(xs: number[]): SpreadMs {
  const s = sortedCopy(xs);
  return { count: s.length, p50_ms: nearestRankSorted(s, 50) / 1e6, p99_ms: nearestRankSorted(s, 99) / 1e6, max_ms: nearestRankSorted(s, 100) / 1e6 };
}

/** Compares the measured probes' p50 RTT with the warm reference's; undefined without enough of either. */
function wakeUp(rttNs: number[], warmNs: number[]): PingSummary['wake_up'] {
  if (rttNs.length < WAKE_UP_THRESHOLD.min_samples || warmNs.length < WAKE_UP_THRESHOLD.min_samples) return undefined;
  const rtt = nearestRankSorted(sortedCopy(rttNs), 50) / 1e6;
  const warm = nearestRankSorted(sortedCopy(warmNs), 50) / 1e6;
  const excess = rtt - warm;
  const percent = warm > 0 ? (100 * excess) / warm : Infinity;
  const warning = excess > WAKE_UP_THRESHOLD.min_excess_ms && percent > WAKE_UP_THRESHOLD.min_excess_percent;
  return { rtt_p50_ms: rtt, warm_p50_ms: warm, excess_ms: excess, excess_percent: percent, warning };
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
  const timed = probes.filter((p) => p.timer_error_ns !== undefined).map((p) => p.timer_error_ns as number);
  const refs = run.references ?? [];
  const refRtt = refs.filter((p) => p.rtt_ns !== undefined).map((p) => p.rtt_ns as number);
  const warmReference = run.warmReference && refs.length > 0 ? { ...run.warmReference, sent: refs.length, received: refRtt.length, rtt: spreadMs(refRtt) } : undefined;
  return {
    // Reports list every probe sent; the reference ones are marked `warm_reference`.
    probes: refs.length > 0 ? [...probes, ...refs] : probes,
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
      ...(timed.length > 0 ? { timer_error: spreadMs(timed) } : {}),
      ...(warmReference ? { warm_reference: warmReference, wake_up: wakeUp(ok.map((p) => p.rtt_ns as number), refRtt) } : {}),
      keep_warm: run.keepWarm !== undefined,
      ...(run.keepWarm ? { keep_warm_traffic: run.keepWarm } : {}),
      ...(run.path ? { path: pathOf(ok, run.path) } : {}),
      loss: attributeLoss(run.session ?? probes.map((p) => ({ answered: p.status === 'OK', received: p.session_pings_received, serverId: p.server_id, counted: true, neverSent: p.never_sent }))),
      ...(run.setups && run.setups.length > 0 ? { connections: run.setups, connection_setup: summarizeSetups(run.setups) } : {}),
      ...(run.newConnectionEvery ? { cold_path: coldPath(ok, run.newConnectionEvery) } : {}),
    },
  };
}

/**
 * A probe as one call of the decomposition: its RTT from the transport's send stamp, the server's hold time
 * (send − receive wall stamps: the server's own clock, so no offset enters) as the server hop.
 */
function pathOf(ok: Probe[], path: NonNullable<PingRun['path']>): PathSummary {
  const rec = createPathRecorder();
  for (const p of ok) {
    const hold = p.t2_unix_nanos && p.t3_unix_nanos && p.t2_unix_nanos !== 0n ? Number(p.t3_unix_nanos - p.t2_unix_nanos) : undefined;
    rec.call(p.wire_sent_ns ?? p.sent_ns, p.rtt_ns as number, p.seq % path.connections, p.upstream_time, hold, undefined, p.server_id);
  }
  for (const x of path.pings) rec.ping(x.conn, x.at_ns, x.rtt_ns);
  return rec.summary(path.via);
}

function coldPath(ok: Probe[], every: number): NonNullable<PingSummary['cold_path']> {
  const rtt = (cold: boolean): number[] => ok.filter((p) => (p.first_on_connection === true) === cold).map((p) => p.rtt_ns as number);
  return { new_connection_every: every, cold_rtt: spreadMs(rtt(true)), warm_rtt: spreadMs(rtt(false)) };
}
