/**
 * `ping`: probes on a fixed schedule (like ping, a probe does not wait for the previous reply), one line
 * per probe, then a summary. Definitions (docs/CLIENT.md has the long form):
 * - RTT = client receive − client send on the monotonic clock; "net" RTT subtracts the server's hold
 *   time (server send − server receive wall stamps) as irtt does.
 * - jitter: RFC 3550 estimator and mean |IPDV| of consecutive arrived probes, for the RTT and for each
 *   direction (one-way transit differences need no clock sync).
 * - clock offset and one-way delays: NTP-style from the four stamps, min-delay probes (src/measure/clock).
 * - throughput (only when --payload-bytes/--response-bytes are set): bytes carried in that direction
 *   divided by the time spent carrying them, i.e. the one-way delay of each loaded probe minus the
 *   median one-way delay of unloaded calibration probes sent first (src/measure/throughput.ts). Up counts the serialized request,
 *   down the serialized response (gRPC/HTTP2 framing excluded).
 * - lost: no reply by the deadline (or any error status); late: the reply came after the next probe was
 *   sent. Both are counted and listed, never averaged away.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { InferenceServiceService, PingRequest, PingResponse } from '../gen/inference/v1/inference';
import { ClockSample, createWallClock, estimateClock, oneWayDelays, WallClock } from '../measure/clock';
import { createLatencyHistogram, LatencySummary, summarize } from '../measure/histogram';
import { jitter } from '../measure/jitter';
import { constantPacer, poissonPacer, type Pacer } from '../measure/pacer';
import { transferRate } from '../measure/throughput';
import { statusName } from '../shared/grpc-status';
import { createTimeSeries } from '../measure/timeseries';
import type { UnaryTransport } from './unary-transport';
import { sleepUntil } from '../measure/sleep';

export interface PingOptions {
  count?: number;
  durationS?: number;
  intervalMs: number;
  payloadBytes: number;
  responseBytes: number;
  /** Unloaded probes sent first to calibrate throughput and the clock offset (only with payloads). */
  calibrationProbes: number;
  /**
   * Probes sent and discarded before anything is measured, on the same schedule: a fresh process runs its
   * first few hundred calls through V8's interpreter and baseline compilers, and the connection's first
   * calls pay for TCP slow start and the server's own warm-up. Default 0 (a user's first probes are real
   * too); `bench/grpcio_ping.py` takes the same option, so comparisons can warm both clients alike.
   */
  warmupProbes?: number;
  /**
   * 'constant' (default): probe k at k × interval, like ping. 'poisson': exponential gaps with mean interval
   * (RFC 2330 §11.1.1), so the send times cannot phase-lock with anything periodic on the path — a reply
   * that always lands while the next probe is being sent, a timer tick, another periodic flow. Measured
   * here: with the one-way delay a multiple of the interval, constant probing read 0.5–0.6 ms too much RTT
   * (docs/RELIABILITY.md, "Delay").
   */
  arrivals?: 'constant' | 'poisson';
  /** Seed of the Poisson schedule; random when not given (reported in the summary). */
  seed?: number;
  signal?: AbortSignal;
}

export interface Probe {
  seq: number;
  /** 'OK' or the gRPC status name. */
  status: string;
  message?: string;
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

export interface PingSummary {
  sent: number;
  received: number;
  lost: number;
  loss_percent: number;
  late: number;
  duration_s: number;
  /** How send times were scheduled: every interval, or Poisson with this seed. */
  schedule: { arrivals: 'constant' | 'poisson'; mean_interval_ms: number; seed?: number };
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

export interface PingResult {
  probes: Probe[];
  summary: PingSummary;
  series: ReturnType<ReturnType<typeof createTimeSeries>['points']>;
  rttHistogram: ReturnType<typeof createLatencyHistogram>;
}

/**
 * Why Ping goes below the generated stub: a stub's deserializer runs inside the transport before our
 * callback, so the response decode (and its allocations) would land inside the timed region. Here the
 * request is encoded by us before the clock starts and the response is raw bytes decoded after the clock
 * stops. The transport (unary-transport.ts) takes both stamps: for `h2` right before the socket write and
 * when the response's last frame is parsed.
 */
const PING_PATH = InferenceServiceService.ping.path;

function sendProbe(t: UnaryTransport, i: number, req: PingRequest, wall: WallClock, t0: bigint, seq: number): Promise<Probe> {
  return new Promise((resolve) => {
    const stamp = process.hrtime.bigint();
    req.clientSendUnixNanos = wall.wallOf(stamp);
    const bytes = Buffer.from(PingRequest.encode(req).finish());
    // bytes up = the serialized request as sent (gRPC/HTTP2 framing excluded).
    const probe: Probe = { seq, status: 'OK', sent_ns: Number(stamp - t0), bytes_up: bytes.length, late: false, t1_unix_nanos: req.clientSendUnixNanos };
    t.unary(i, PING_PATH, bytes, (o) => {
      // t1 is when the request really left (after encoding, or after waiting for a connection), so the
      // four clock stamps and the RTT share one start.
      if (o.sentNs !== 0n) probe.t1_unix_nanos = wall.wallOf(o.sentNs);
      if (o.code !== 0 || !o.response) {
        probe.status = statusName(o.code);
        probe.message = o.details;
        resolve(probe);
        return;
      }
      let res: PingResponse;
      try {
        res = PingResponse.decode(o.response);
      } catch (e) {
        probe.status = 'INTERNAL';
        probe.message = `response is not a valid PingResponse: ${(e as Error).message}`;
        resolve(probe);
        return;
      }
      probe.recv_ns = Number(o.endNs - t0);
      probe.rtt_ns = Number(o.endNs - o.sentNs);
      probe.t2_unix_nanos = res.serverReceiveUnixNanos;
      probe.t3_unix_nanos = res.serverSendUnixNanos;
      probe.t4_unix_nanos = wall.wallOf(o.endNs);
      probe.net_rtt_ns = probe.rtt_ns - Number(res.serverSendUnixNanos - res.serverReceiveUnixNanos);
      probe.bytes_down = o.response.length;
      resolve(probe);
    });
  });
}

function makeRequest(seq: number, payload: Buffer, responseBytes: number): PingRequest {
  return { seq: BigInt(seq), payload, responseBytes, echoPayload: false, clientSendUnixNanos: 0n };
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

export async function runPing(conn: UnaryTransport, o: PingOptions, onProbe?: (p: Probe) => void): Promise<PingResult> {
  const wall = createWallClock();
  const loaded = o.payloadBytes > 0 || o.responseBytes > 0;
  const payload = o.payloadBytes > 0 ? randomBytes(o.payloadBytes) : Buffer.alloc(0);

  const rate = 1000 / o.intervalMs;
  const seed = o.seed ?? randomInt(2 ** 31);
  const pacer = (): Pacer => (o.arrivals === 'poisson' ? poissonPacer(rate, seed) : constantPacer(rate));

  const warm = o.warmupProbes ?? 0;
  if (warm > 0) {
    const tw = process.hrtime.bigint();
    const schedule = pacer();
    for (let i = 0; i < warm && !o.signal?.aborted; i++) {
      await sleepUntil(tw + BigInt(Math.round(schedule.next())), o.signal, () => true);
      await sendProbe(conn, i, makeRequest(i, payload, o.responseBytes), wall, tw, i);
    }
  }

  // Calibration: unloaded probes, one at a time, for the baseline one-way delays and the clock offset.
  const calibration: Probe[] = [];
  if (loaded) {
    const t0c = process.hrtime.bigint();
    for (let i = 0; i < o.calibrationProbes && !o.signal?.aborted; i++) {
      calibration.push(await sendProbe(conn, i, makeRequest(i, Buffer.alloc(0), 0), wall, t0c, i));
    }
  }

  const schedule = pacer();
  const count = o.count ?? (o.durationS !== undefined ? Math.max(1, Math.floor((o.durationS * 1000) / o.intervalMs)) : 1);
  const t0 = process.hrtime.bigint();
  const pending: Array<Promise<Probe>> = [];
  const sentAt: bigint[] = [];
  let inFlight = 0;
  const idle = (): boolean => inFlight === 0;
  const landed = (): void => void inFlight--;
  for (let seq = 0; seq < count; seq++) {
    const at = t0 + BigInt(Math.round(schedule.next()));
    await sleepUntil(at, o.signal, idle);
    if (o.signal?.aborted) break;
    const req = makeRequest(seq, payload, o.responseBytes);
    sentAt.push(process.hrtime.bigint() - t0);
    inFlight++;
    const p = sendProbe(conn, seq, req, wall, t0, seq);
    void p.then(landed);
    if (onProbe) void p.then(onProbe);
    pending.push(p);
  }
  const probes = await Promise.all(pending);

  // Late = the reply arrived after the next probe left.
  for (let i = 0; i + 1 < probes.length; i++) {
    const r = probes[i].recv_ns;
    if (r !== undefined && r > Number(sentAt[i + 1])) probes[i].late = true;
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
      // Median, not minimum, calibration delay as the non-transfer baseline (src/measure/throughput.ts).
      const up = transferRate(sampled.map((p) => p.bytes_up), w.sendNs, base.sendNs);
      const down = transferRate(sampled.map((p) => p.bytes_down ?? 0), w.receiveNs, base.receiveNs);
      const upBytes = up.bytes;
      const downBytes = down.bytes;
      throughput = {
        up_bytes: upBytes,
        down_bytes: downBytes,
        calibration_probes: calSamples.length,
        ...(o.payloadBytes > 0 && up.bytesPerS !== undefined ? { up_mb_per_s: up.bytesPerS / 1e6 } : {}),
        ...(o.responseBytes > 0 && down.bytesPerS !== undefined ? { down_mb_per_s: down.bytesPerS / 1e6 } : {}),
      };
    }
  }

  const rttSeries = probes.map((p) => (p.rtt_ns === undefined ? null : p.rtt_ns));
  const upSeries = probes.map((p) => (p.t2_unix_nanos && p.t2_unix_nanos !== 0n ? Number(p.t2_unix_nanos - p.t1_unix_nanos) : null));
  const downSeries = probes.map((p) => (p.t4_unix_nanos && p.t3_unix_nanos && p.t3_unix_nanos !== 0n ? Number(p.t4_unix_nanos - p.t3_unix_nanos) : null));
  const sent = probes.length;
  const lost = sent - ok.length;
  return {
    probes,
    rttHistogram: rttHist,
    series: series.points(),
    summary: {
      sent,
      received: ok.length,
      lost,
      loss_percent: sent === 0 ? 0 : (100 * lost) / sent,
      late: probes.filter((p) => p.late).length,
      duration_s: lastEnd / 1e9,
      schedule: schedule.kind === 'poisson' ? { arrivals: 'poisson', mean_interval_ms: o.intervalMs, seed } : { arrivals: 'constant', mean_interval_ms: o.intervalMs },
      rtt: summarize(rttHist),
      net_rtt: summaryOfNs(ok.map((p) => p.net_rtt_ns ?? 0)),
      jitter: { rtt: jitterMs(rttSeries), send: jitterMs(upSeries), receive: jitterMs(downSeries) },
      clock,
      throughput,
      status_counts: statusCounts,
    },
  };
}

const f3 = (x: number): string => x.toFixed(3);

export function probeLine(p: Probe): string {
  if (p.rtt_ns === undefined) return `seq=${p.seq} ${p.status}${p.message ? `: ${p.message}` : ''}`;
  return `${p.bytes_down ?? 0} bytes from server: seq=${p.seq} up=${p.bytes_up} B rtt=${f3(p.rtt_ns / 1e6)} ms net=${f3((p.net_rtt_ns ?? 0) / 1e6)} ms${p.late ? ' (late)' : ''}`;
}

export function summaryText(target: string, s: PingSummary): string {
  const l: string[] = [];
  const r = s.rtt;
  const pr = (x: LatencySummary): string =>
    `${f3(x.min_ms)}/${f3(x.mean_ms)}/${f3(x.percentiles_ms.p50)}/${f3(x.percentiles_ms.p90)}/${f3(x.percentiles_ms.p99)}/${f3(x.max_ms)}/${f3(x.stddev_ms)} ms`;
  l.push(`--- ${target} ping statistics ---`);
  l.push(`${s.sent} probes sent, ${s.received} received, ${s.lost} lost (${s.loss_percent.toFixed(1)} %), ${s.late} late, time ${(s.duration_s * 1000).toFixed(0)} ms`);
  if (s.lost > 0) l.push(`lost: ${Object.entries(s.status_counts).filter(([k]) => k !== 'OK').map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  if (r.count > 0) {
    l.push(`rtt     min/mean/p50/p90/p99/max/stddev = ${pr(r)}`);
    l.push(`net rtt min/mean/p50/p90/p99/max/stddev = ${pr(s.net_rtt)}  (rtt − server hold time)`);
    const j = s.jitter;
    l.push(`jitter rtt:     RFC 3550 ${f3(j.rtt.rfc3550_ms)} ms, mean |ΔRTT| ${f3(j.rtt.mean_abs_ipdv_ms)} ms, max ${f3(j.rtt.max_abs_ipdv_ms)} ms (${j.rtt.pairs} pairs)`);
    l.push(`jitter send:    RFC 3550 ${f3(j.send.rfc3550_ms)} ms, mean |IPDV| ${f3(j.send.mean_abs_ipdv_ms)} ms`);
    l.push(`jitter receive: RFC 3550 ${f3(j.receive.rfc3550_ms)} ms, mean |IPDV| ${f3(j.receive.mean_abs_ipdv_ms)} ms`);
  }
  if (s.clock) {
    const c = s.clock;
    l.push(`clock offset (server − client) ${c.offset_ms >= 0 ? '+' : ''}${f3(c.offset_ms)} ms ± ${f3(c.error_bound_ms)} ms (from the ${c.samples_used} lowest-delay ${c.from === 'calibration' ? 'calibration ' : ''}probe(s))`);
    l.push(`one-way delay (estimated): send mean ${f3(c.send_delay.mean_ms)} p50 ${f3(c.send_delay.percentiles_ms.p50)} p99 ${f3(c.send_delay.percentiles_ms.p99)} ms; receive mean ${f3(c.receive_delay.mean_ms)} p50 ${f3(c.receive_delay.percentiles_ms.p50)} p99 ${f3(c.receive_delay.percentiles_ms.p99)} ms`);
  }
  if (s.throughput) {
    const t = s.throughput;
    const up = t.up_mb_per_s !== undefined ? `up ${t.up_mb_per_s.toFixed(2)} MB/s (${t.up_bytes} B)` : '';
    const down = t.down_mb_per_s !== undefined ? `down ${t.down_mb_per_s.toFixed(2)} MB/s (${t.down_bytes} B)` : '';
    l.push(`throughput: ${[up, down].filter(Boolean).join(', ') || 'n/a (no measurable transfer time)'}`);
  }
  return l.join('\n');
}
