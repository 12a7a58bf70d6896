/**
 * The `--json` document: one stable shape for every verb, documented in docs/CLIENT.md, and the figures of
 * a load run in it. Plain data and arithmetic, no Node API: rtinfer (report-json.ts) and the browser page
 * write the same document.
 * Bump FORMAT_VERSION on any incompatible change (a removed or renamed field); adding fields is compatible.
 */
import { buckets, cdf, type CdfPoint, encodeHdr, type HistogramBucket, type LatencyHistogram, type LatencySummary, logBuckets, summarize } from './histogram';
import type { LoadResult } from './load-run';
import type { Stability } from './stability';
import type { SeriesPoint } from './timeseries';
import { summarizeTiming, type TimingSummary } from './timing';
import type { Verdict } from './verdict';
import type { Knee, SweepLevel } from './sweep';
import { summarizeReplicas, type ReplicaSummary } from './replicas';

export const FORMAT_VERSION = 1;
export const TOOL_NAME = 'rtinfer';

export type Verb = 'ping' | 'classify' | 'bench' | 'stream' | 'local-classify' | 'local-bench';

export interface Environment {
  node: string;
  platform: string;
  os_release: string;
  arch: string;
  cpus: number;
  cpu_model: string;
  total_memory_bytes: number;
  hostname: string;
  /** host:port for remote verbs, "in-process" for local mode. */
  target: string;
  /** What the server said it runs (GetServerInfo), when it answered. */
  server?: Record<string, unknown>;
}

/** Figures of a load run (bench, stream, local bench). */
export interface LoadSummary {
  mode: 'closed' | 'open';
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  unfinished: number;
  warmup_requests: number;
  end_reason: string;
  /** Measurement start → last completion, s. */
  duration_s: number;
  /** OK responses / duration. */
  throughput_rps: number;
  images_per_s: number;
  /** Request bytes (serialized messages) / duration / 1e6. */
  mb_per_s_up: number;
  /** Response bytes / duration / 1e6. */
  mb_per_s_down: number;
  /** Successful requests; open loop: from the intended send time. */
  latency: LatencySummary & HdrField;
  /** Open loop: from the actual send time (service time). Closed loop: equal to latency. */
  service_latency: LatencySummary & HdrField;
  /** Wall-clock time the measurement started, ms since the Unix epoch (µs precision): lines up agents' runs. */
  measure_start_unix_ms: number;
  server_timing: TimingSummary;
  scheduled: number;
  sent_late: number;
  client_busy: number;
  /** Per replica (server_id), when responses named their replica; absent otherwise. */
  replicas?: ReplicaSummary[];
}

/** The figures' histogram, lossless (hdr-codec.ts): HdrHistogram V2 compressed, base64, values in µs. */
export interface HdrField {
  hdr: string;
}

/**
 * One agent of a distributed run (`--start-at`, `--agents`/JOB_COMPLETION_INDEX): which share it offered
 * and how its start and clock compared with the others'.
 */
export interface AgentInfo {
  /** 0-based, from JOB_COMPLETION_INDEX or --agent-index. */
  index: number;
  /** Agents sharing the total rate. */
  count: number;
  /** The rate this agent offered (req/s, or fps for stream), when the run was paced. */
  rate?: number;
  /** The total the agents share, when --rate was split. */
  total_rate?: number;
  /** --start-at as given, ISO 8601. */
  start_at?: string;
  /** How long after --start-at this agent actually started (≥ 0; a start before it is impossible). */
  start_late_ms?: number;
  /** This agent's clock against the server's (server − agent), NTP-style, with its ± error bound. */
  clock?: { offset_ms: number; error_bound_ms: number; probes: number };
}

/** One agent's row in a merged run. */
export interface MergedAgent {
  file: string;
  index?: number;
  hostname?: string;
  /** The rate it offered: its share of --rate, or a stream's --fps. */
  rate?: number;
  start_late_ms?: number;
  clock?: AgentInfo['clock'];
  measure_start_unix_ms: number;
  /** Whole seconds its series was shifted by to line up with the earliest agent. */
  shift_s: number;
  duration_s: number;
  sent: number;
  ok: number;
  errors: number;
  throughput_rps: number;
  p50_ms: number;
  p99_ms: number;
  'p99.9_ms': number;
}

/** How a merged run (`rtinfer report --merge`, report-merge.ts) was put together. */
export interface MergeInfo {
  agents: MergedAgent[];
  /** Whole seconds in which every agent was measuring: the rates' window. */
  common_window_s: number;
  common_window: { first_s: number; seconds: number };
  /** 'server clock': starts corrected by each agent's measured offset; 'agent clocks': as recorded. */
  aligned_on: 'server clock' | 'agent clocks';
  start_spread_ms: number;
  /** The largest distance of an agent's start from its whole-second slot. */
  alignment_ms: number;
  clock_skew: { measured: boolean; max_skew_ms?: number; error_bound_ms?: number; text: string };
  total_rate?: number;
}

export interface RunReport {
  tool: { name: string; version: string };
  format_version: number;
  /** ISO 8601, when the run started. */
  date: string;
  verb: Verb;
  /** Every option the run used, defaults included. */
  settings: Record<string, unknown>;
  environment: Environment;
  /** Verb-specific headline figures (see docs/CLIENT.md). */
  summary: Record<string, unknown>;
  /**
   * `buckets`: 20 equal-width buckets from min to max (ghz's layout); `log_buckets`:
   * the fixed log-spaced grid of histogram.ts logBuckets (the report's chart; absent in older files).
   */
  histogram: { buckets: HistogramBucket[]; cdf: CdfPoint[]; log_buckets?: HistogramBucket[]; hdr?: string };
  series: SeriesPoint[];
  status_counts: Record<string, number>;
  errors: Array<{ message: string; count: number }>;
  warnings: string[];
  verdict?: Verdict;
  stability?: Stability;
  sweep?: { levels: Array<SweepLevel & { images_per_s: number; errors: number }>; knee?: Knee };
  /** Distributed runs: this agent's share, start and clock (one agent), or every agent (a merged run). */
  agent?: AgentInfo;
  /** A merged run (`rtinfer report --merge`): its agents and how they lined up (report-merge.ts). */
  merge?: MergeInfo;
  /** ping only: one entry per probe. */
  probes?: unknown[];
  /** classify only: one entry per image. */
  results?: unknown[];
}

/** A report with nothing measured yet; `version` is the tool's (report-json.ts toolVersion in Node). */
export function emptyReport(verb: Verb, settings: Record<string, unknown>, env: Environment, started: Date, version: string): RunReport {
  return {
    tool: { name: TOOL_NAME, version: version },
    format_version: FORMAT_VERSION,
    date: started.toISOString(),
    verb,
    settings,
    environment: env,
    summary: {},
    histogram: { buckets: [], cdf: [] },
    series: [],
    status_counts: {},
    errors: [],
    warnings: [],
  };
}

export function loadSummary(r: LoadResult): LoadSummary {
  const s = r.elapsedNs / 1e9;
  const svc = r.mode === 'open' ? r.service : r.latency;
  const per = (x: number): number => (s > 0 ? x / s : 0);
  return {
    mode: r.mode,
    sent: r.sent,
    completed: r.completed,
    ok: r.ok,
    errors: r.errors,
    unfinished: r.unfinished,
    warmup_requests: r.warmupRequests,
    end_reason: r.endReason,
    duration_s: s,
    throughput_rps: per(r.ok),
    images_per_s: per(r.images),
    mb_per_s_up: per(r.bytesUp) / 1e6,
    mb_per_s_down: per(r.bytesDown) / 1e6,
    latency: { ...summarize(r.latency), hdr: encodeHdr(r.latency) },
    service_latency: { ...summarize(svc), hdr: encodeHdr(svc) },
    measure_start_unix_ms: r.startUnixMs,
    server_timing: summarizeTiming(r.timing),
    scheduled: r.scheduled,
    sent_late: r.sentLate,
    client_busy: r.clientBusy,
    ...(r.replicas.size > 0 ? { replicas: summarizeReplicas(r.replicas) } : {}),
  };
}

/** The `histogram` section of a report from a latency (or RTT) histogram. */
export function histogramSection(h: LatencyHistogram): RunReport['histogram'] {
  return { buckets: buckets(h), cdf: cdf(h), log_buckets: logBuckets(h), hdr: encodeHdr(h) };
}

/** Fills histogram, series, status counts and errors from a load result. */
export function attachLoad(rep: RunReport, r: LoadResult): void {
  rep.histogram = histogramSection(r.latency);
  rep.series = r.series;
  rep.status_counts = { ...r.statusCounts };
  rep.errors = Object.entries(r.errorMessages).map(([message, count]) => ({ message, count }));
}

/** JSON with bigint as decimal strings (wall-clock nanoseconds do not fit a double). */
export function toJson(rep: RunReport): string {
  return JSON.stringify(rep, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
}
