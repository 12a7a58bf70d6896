/**
 * The printed text of a load run (bench, stream, local bench): a header that says what was measured
 * before it runs (as ghz does: target, transport, model, engine, weights, images, load shape), the summary
 * after it, and a latency histogram in text (ghz's "Response time histogram"). Verbs pass data; every
 * wording lives here so the remote and in-process modes read the same.
 */
import { setupText, type ConnectionSetupSummary } from './connection-setup';
import type { PathSummary } from './path';
import { pathText } from './path-printer';
import { logBuckets, type LatencyHistogram } from './histogram';
import type { LoadSummary, RunReport } from './report-json';
import type { Stability } from './stability';
import type { ReplicaSummary } from './replicas';
import { requestPayloadText, sentAsText, type RequestPayload } from './request-payload';

/** What the header says about the server side (GetServerInfo, or the in-process model). */
export interface ServerDescription {
  model: string;
  modelSource?: string;
  inputWidth?: number;
  inputHeight?: number;
  normalize?: string;
  weights: 'real' | 'synthetic' | 'unknown';
  weightsSource?: string;
  backend: string;
  library?: string;
  version?: string;
  executionProvider?: string;
  threads?: number;
  /** Sessions running batches side by side (absent or 1: one). */
  instances?: number;
  /** Threads of the session that takes a batch when nothing else runs (absent: none). */
  soloThreads?: number;
  maxBatch?: number;
  maxQueueDelayMicros?: number;
}

type Json = Record<string, unknown>;
const obj = (x: unknown): Json => (x !== null && typeof x === 'object' ? (x as Json) : {});
const str = (x: unknown): string | undefined => (typeof x === 'string' && x !== '' ? x : undefined);
const num = (x: unknown): number | undefined => (typeof x === 'number' && x > 0 ? x : typeof x === 'string' && Number(x) > 0 ? Number(x) : undefined);

/** GetServerInfo as JSON (the report's environment.server) → what the header prints; undefined if absent. */
export function describeServer(info: Json | undefined): ServerDescription | undefined {
  if (!info) return undefined;
  const m = obj(info.model);
  const e = obj(info.engine);
  const b = obj(info.batching);
  const w = str(m.weights);
  return {
    model: str(m.name) ?? 'unknown model',
    modelSource: str(m.source),
    inputWidth: num(m.inputWidth),
    inputHeight: num(m.inputHeight),
    normalize: str(m.normalize),
    weights: w === 'WEIGHTS_PROVENANCE_SYNTHETIC' ? 'synthetic' : w === 'WEIGHTS_PROVENANCE_REAL' ? 'real' : 'unknown',
    weightsSource: str(m.weightsSource),
    backend: str(e.backend) ?? 'unknown engine',
    library: str(e.library),
    version: str(e.version),
    executionProvider: str(e.executionProvider),
    threads: num(e.threads),
    instances: num(e.instances),
    soloThreads: num(e.soloThreads),
    maxBatch: num(b.maxBatch),
    // proto3 JSON leaves zero values out: a batching section without a delay means no delay.
    maxQueueDelayMicros: info.batching ? (num(b.maxQueueDelayMicros) ?? 0) : undefined,
  };
}

/** The images a run sends: generated noise of one size, or files. */
export interface ImageSet {
  /** Set when the images are generated noise JPEGs of this size (no --images). */
  generated?: { width: number; height: number };
  images: Array<{ name: string; bytes: number }>;
  /** What each call carries, when the verb says (undefined: the images as they are). */
  request?: RequestPayload;
}

export interface LoadShape {
  mode: 'closed' | 'open' | 'stream' | 'sweep';
  /** Closed loop: requests in flight; open loop: most in flight; sweep: unused. */
  concurrency?: number;
  rate?: number;
  arrivals?: 'constant' | 'poisson';
  fps?: number;
  window?: number;
  levels?: number[];
  durationS?: number;
  /** Requests (bench) or frames (stream) to measure, when not by duration. */
  count?: number;
  warmupS: number;
}

export interface RunHeader {
  /** "bench classify", "stream", "local bench". */
  title: string;
  /** Remote only: host:port and how the calls travel. */
  target?: string;
  transport?: string;
  tls?: boolean;
  connections?: number;
  /** undefined with a target: the server did not answer GetServerInfo. */
  server?: ServerDescription;
  /** undefined for --rpc ping. */
  images?: ImageSet;
  /** --rpc ping: bytes up and down per call. */
  payload?: { up: number; down: number };
  load: LoadShape;
}

const kB = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function modelLine(s: ServerDescription): string {
  const parts: string[] = [];
  if (s.modelSource) parts.push(s.modelSource);
  if (s.inputWidth && s.inputHeight) parts.push(`input ${s.inputWidth}×${s.inputHeight}`);
  if (s.normalize) parts.push(`normalize ${s.normalize}`);
  return `${s.model}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** "2 threads", or with a CPU sharing plan "2 sessions × 1 thread + a 2-thread solo session". */
export function threadsText(s: Pick<ServerDescription, 'threads' | 'instances' | 'soloThreads'>): string | undefined {
  if (!s.threads) return undefined;
  const each = plural(s.threads, 'thread');
  const pool = s.instances && s.instances > 1 ? `${s.instances} sessions × ${each}` : each;
  return s.soloThreads ? `${pool} + a ${s.soloThreads}-thread solo session` : pool;
}

function engineLine(s: ServerDescription): string {
  const parts = [s.library && s.version && !s.library.includes(s.version) ? `${s.library} ${s.version}` : s.library, s.executionProvider, threadsText(s)].filter((x): x is string => !!x);
  const delay = s.maxQueueDelayMicros === undefined ? '' : s.maxQueueDelayMicros === 0 ? ', no queue delay' : `, ${(s.maxQueueDelayMicros / 1000).toFixed(1)} ms queue delay`;
  const batching = s.maxBatch !== undefined ? `; batches up to ${s.maxBatch}${delay}` : '';
  return `${s.backend}${parts.length ? ` (${parts.join(', ')})` : ''}${batching}`;
}

function weightsLine(s: ServerDescription): string {
  const src = s.weightsSource ? ` (${s.weightsSource})` : '';
  if (s.weights === 'synthetic') return `SYNTHETIC${src} — random weights: timings are real, predictions are meaningless`;
  if (s.weights === 'real') return `real${src}`;
  return 'unknown (the server did not say)';
}

function imagesLine(i: ImageSet): string {
  const n = i.images.length;
  const mean = n === 0 ? 0 : i.images.reduce((s, x) => s + x.bytes, 0) / n;
  const names = i.images.slice(0, 3).map((x) => x.name).join(', ') + (n > 3 ? ', …' : '');
  const what = i.generated ? `generated noise ${i.generated.width}×${i.generated.height}, ${plural(n, 'JPEG')} of ${kB(mean)} on average` : `${plural(n, 'file')} (${names}), ${kB(mean)} on average`;
  const r = i.request;
  if (!r || r.sent === 'image') return `${what}, sent in turn`;
  return `${what}, sent in turn as ${sentAsText(r)}: ${kB(r.bytes_per_request)} per call`;
}

function howLong(l: LoadShape, unit: string): string {
  const span = l.durationS !== undefined ? `${l.durationS} s` : l.count !== undefined ? plural(l.count, unit) : 'until stopped';
  return `${span} after ${l.warmupS} s warm-up`;
}

function loadLine(l: LoadShape): string {
  switch (l.mode) {
    case 'closed':
      return `closed loop, -C ${l.concurrency} (${l.concurrency === 1 ? 'one request at a time' : `${l.concurrency} requests in flight`}, the next sent as soon as a reply arrives), ${howLong(l, 'request')}`;
    case 'open':
      return `open loop at ${l.rate} req/s, ${l.arrivals ?? 'constant'} arrivals, up to ${l.concurrency} in flight (latency from the intended send time), ${howLong(l, 'request')}`;
    case 'stream':
      return `stream at ${l.fps} fps, window ${l.window} (a frame due while ${l.window} are in flight is dropped), ${howLong(l, 'frame')}`;
    case 'sweep':
      return `concurrency sweep ${(l.levels ?? []).join(', ')} (closed loop), ${howLong(l, 'request')} at each level`;
  }
}

/** The header printed before the run starts. */
export function headerText(h: RunHeader): string {
  const l: string[] = [];
  if (h.target !== undefined) {
    const conn = [h.transport, h.tls ? 'TLS' : 'plaintext', h.connections !== undefined ? plural(h.connections, 'connection') : undefined].filter((x): x is string => !!x);
    l.push(`${h.title} → ${h.target} (${conn.join(', ')})`);
  } else l.push(`${h.title} (in-process, no network)`);
  const row = (k: string, v: string): number => l.push(`  ${k.padEnd(8)} ${v}`);
  if (h.server) {
    row('model', modelLine(h.server));
    row('engine', engineLine(h.server));
    row('weights', weightsLine(h.server));
  } else row('server', 'did not answer GetServerInfo: model, engine and weights unknown');
  if (h.images) row('images', imagesLine(h.images));
  if (h.payload) row('payload', `Ping calls, ${h.payload.up} B up and ${h.payload.down} B down each`);
  row('load', loadLine(h.load));
  return l.join('\n');
}

const BAR = 40;

/** ghz's "Response time histogram": lower and upper edge, count and a bar of #. */
export function histogramText(h: LatencyHistogram, n = 10): string {
  // n buckets spanning this run's own min..max: one run has no other run's edges to line up with.
  const b = logBuckets(h, { count: n });
  if (b.length === 0) return 'latency histogram: no successful calls';
  const peak = Math.max(...b.map((x) => x.count));
  const w = Math.max(...b.map((x) => x.to_ms.toFixed(3).length));
  const cw = String(peak).length;
  const l = [`latency histogram (ms, log-spaced buckets, ${h.hdr.totalCount} successful calls):`];
  for (const x of b) {
    const bar = '#'.repeat(x.count === 0 ? 0 : Math.max(1, Math.round((BAR * x.count) / peak)));
    l.push(`  ${x.from_ms.toFixed(3).padStart(w)} – ${x.to_ms.toFixed(3).padStart(w)}  [${String(x.count).padStart(cw)}] |${bar}`);
  }
  return l.join('\n');
}

/** The stability line: what it is about, and that the figures and verdict cover the whole run regardless. */
export function stabilityText(s: Stability, withVerdict: boolean): string {
  const whole = withVerdict ? 'they and the verdict cover the whole run either way' : 'they cover the whole run either way';
  if (!s.judged) return `stability: not judged — ${s.reason}. It says whether the figures describe a steady state; ${whole}`;
  if (s.stable) return `stability: steady — ${s.reason}: the figures describe a steady state`;
  return `stability: NOT steady — ${s.reason}: performance changed during the run, so the figures mix phases; quote or compare them with care (${whole})`;
}

const f = (x: number, d = 3): string => x.toFixed(d);

/** The summary printed after a run; `latency` (the run's histogram) adds the text histogram. */
export function loadSummaryText(rep: RunReport, latency?: LatencyHistogram): string {
  const s = rep.summary as unknown as LoadSummary & { dropped?: number; over_budget?: number; fps_target?: number };
  const l: string[] = [];
  const p = s.latency.percentiles_ms;
  l.push(`${s.mode === 'open' ? 'open loop' : 'closed loop'}: ${s.ok} OK, ${s.errors} errors${s.unfinished ? `, ${s.unfinished} unfinished` : ''}${s.dropped !== undefined ? `, ${s.dropped} dropped` : ''} in ${f(s.duration_s, 2)} s (${s.warmup_requests} warm-up not counted; ended by ${s.end_reason})`);
  l.push(`throughput: ${f(s.throughput_rps, 1)} req/s, ${f(s.images_per_s, 1)} images/s, up ${f(s.mb_per_s_up)} MB/s, down ${f(s.mb_per_s_down)} MB/s`);
  l.push(`latency${s.mode === 'open' ? ' (from intended send time)' : ''}: min ${f(s.latency.min_ms)} mean ${f(s.latency.mean_ms)} p50 ${f(p.p50)} p90 ${f(p.p90)} p95 ${f(p.p95)} p99 ${f(p.p99)} p99.9 ${f(p['p99.9'])} max ${f(s.latency.max_ms)} ms (stddev ${f(s.latency.stddev_ms)})`);
  if (s.mode === 'open') l.push(`service time (from actual send): p50 ${f(s.service_latency.percentiles_ms.p50)} p99 ${f(s.service_latency.percentiles_ms.p99)} ms`);
  const req = (rep.summary as { request?: RequestPayload }).request;
  if (req) l.push(requestPayloadText(req));
  const t = s.server_timing;
  if (t.count > 0) {
    l.push(`server (mean of ${t.count}): queue ${f(t.queue_ms)} decode ${f(t.decode_ms)} preprocess ${f(t.preprocess_ms)} inference ${f(t.inference_ms)} postprocess ${f(t.postprocess_ms)} other ${f(t.server_other_ms)} = total ${f(t.server_total_ms)} ms; batch ${f(t.mean_batch_size, 2)}`);
    l.push(`client-side overhead (e2e − server total): ${f(t.client_overhead_ms)} ms`);
  }
  if (s.replicas && s.replicas.length > 1) l.push(replicasText(s.replicas));
  const x = rep.summary as { path?: PathSummary; connection_setup?: ConnectionSetupSummary };
  if (x.path) l.push(...pathText(x.path));
  if (x.connection_setup) l.push(setupText(x.connection_setup));
  if (s.over_budget !== undefined) l.push(`over budget: ${s.over_budget} of ${s.ok}`);
  l.push(`status: ${Object.entries(rep.status_counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  for (const e of rep.errors.slice(0, 5)) l.push(`  error ×${e.count}: ${e.message}`);
  if (latency) l.push(histogramText(latency));
  if (rep.stability) l.push(stabilityText(rep.stability, rep.verdict !== undefined));
  for (const w of rep.warnings) if (!w.startsWith('not steady')) l.push(`warning: ${w}`);
  if (rep.verdict) l.push(`verdict: ${rep.verdict.status}${rep.verdict.reasons.length ? ' — ' + rep.verdict.reasons.join('; ') : ''}${rep.verdict.passed.length ? ` (ok: ${rep.verdict.passed.join('; ')})` : ''}`);
  return l.join('\n');
}

/** One line per replica: its share of the OK calls, its latency and its own server time. */
export function replicasText(rs: ReplicaSummary[]): string {
  const w = Math.max(...rs.map((r) => r.server_id.length));
  const l = [`by replica (${rs.length} answered; latency ms, server total = its own mean):`];
  for (const r of rs) {
    const p = r.latency.percentiles_ms;
    const lat = r.ok > 0 ? `p50 ${f(p.p50)} p90 ${f(p.p90)} p99 ${f(p.p99)} max ${f(r.latency.max_ms)}` : 'no successful calls';
    const srv = r.server_timing.count > 0 ? `; server total ${f(r.server_timing.server_total_ms)}` : '';
    l.push(`  ${r.server_id.padEnd(w)}  ${String(r.ok).padStart(6)} OK (${(r.share * 100).toFixed(1).padStart(5)} %) ${String(r.errors).padStart(4)} errors  ${lat}${srv}`);
  }
  return l.join('\n');
}
