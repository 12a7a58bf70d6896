/**
 * `bench` (closed or open loop, optional concurrency sweep) and `stream` (frames at --fps with an
 * in-flight --window; a frame due while the window is full is dropped and counted). Both drive
 * src/measure/load-phase.ts with an issuer from issuers.ts and report through src/measure.
 */
import { runLoad, LoadResult, type LoadSpec } from '../measure/load-phase';
import { fillLoadReport, fillStreamReport, VerdictTargets } from '../measure/load-report';
import { loadSummaryText } from '../measure/load-printer';
import { constantPacer, poissonPacer } from '../measure/pacer';
import { RunReport } from '../measure/report-json';
import { findKnee, SweepLevel } from '../measure/sweep';
import { summarize } from '../measure/histogram';
import type { Connection } from './connect';
import type { LoadedImage } from '../shared/images';
import { classifyIssuer, classifyUnaryIssuer, Issuer, pingIssuer, streamIssuer } from './issuers';
import { createPathTracker } from './path-tracker';
import type { PingFn } from './path-pings';
import type { PathSummary, PingVia } from '../measure/path';
import { pathWarnings } from '../measure/path-printer';
import { summarizeSetups } from '../measure/connection-setup';
import { grpcJsTransport, type UnaryTransport } from './unary-transport';
import { createProgress } from './progress';
import type { FailureGuard } from './failure-guard';
import type { RequestPayload } from '../measure/request-payload';

export type Rpc = 'classify' | 'stream' | 'ping';

export interface BenchOptions extends VerdictTargets {
  rpc: Rpc;
  concurrency: number;
  rate?: number;
  arrivals: 'constant' | 'poisson';
  durationS?: number;
  requests?: number;
  warmupS: number;
  topK: number;
  payloadBytes: number;
  responseBytes: number;
  sweep?: number[];
  signal?: AbortSignal;
  /**
   * --rpc ping and classify over this transport (our own HTTP/2 client by default) instead of the grpc-js
   * connection.
   */
  unaryTransport?: UnaryTransport;
  /** PINGs for the per-hop decomposition (cli.ts withPathPings); none when undefined (--no-path). */
  path?: { ping: PingFn; via: PingVia };
  /** Connections the calls are spread over (the PINGs go on each). */
  connections?: number;
  /** Sees every outcome and stops a run whose first calls all fail alike (failure-guard.ts). */
  guard?: FailureGuard;
  /** What each Classify call carries (summary.request); undefined for --rpc ping. */
  request?: RequestPayload;
}

function issuerFor(conn: Connection, o: Pick<BenchOptions, 'rpc' | 'topK' | 'payloadBytes' | 'responseBytes' | 'unaryTransport' | 'path' | 'connections'>, images: LoadedImage[], slots: number): Issuer {
  const path = o.path ? createPathTracker(o.path.ping, o.path.via, o.connections ?? 1) : undefined;
  if (o.rpc === 'ping') return pingIssuer(o.unaryTransport ?? grpcJsTransport(conn), o.payloadBytes, o.responseBytes, slots, path);
  if (images.length === 0) throw new Error(`--rpc ${o.rpc} needs images (--images or --image-size)`);
  if (o.rpc === 'stream') return streamIssuer(conn, images, o.topK, slots, path);
  return o.unaryTransport ? classifyUnaryIssuer(o.unaryTransport, images, o.topK, slots, path) : classifyIssuer(conn, images, o.topK, slots, path);
}

/** What a phase measured, with its per-hop decomposition when the issuer took one. */
type Measured = LoadResult & { path?: PathSummary };

/** The decomposition and connection set-up for the report summary (empty when there are none). */
function pathExtra(r: Measured, t: UnaryTransport | undefined): Record<string, unknown> {
  const setups = t?.connectionSetups?.() ?? [];
  return { ...(r.path ? { path: r.path } : {}), ...(setups.length > 0 ? { connections: setups, connection_setup: summarizeSetups(setups) } : {}) };
}

/** summary.request, when the run sends images. */
function requestExtra(r: RequestPayload | undefined): Record<string, unknown> {
  return r ? { request: r } : {};
}

/** The path's warnings join the run's (printed with them). */
function addPathWarnings(rep: RunReport, r: Measured): void {
  if (r.path) rep.warnings.push(...pathWarnings(r.path));
}

async function oneLevel(conn: Connection, o: BenchOptions, images: LoadedImage[], concurrency: number, label: string): Promise<Measured> {
  const open = o.rate !== undefined;
  // Open loop: enough slots that the server, not the client, is the bottleneck; the backlog queues the rest.
  const slots = concurrency;
  return runIssued(label, issuerFor(conn, o, images, slots), {
    mode: open ? 'open' : 'closed',
    concurrency: slots,
    pacer: open ? () => (o.arrivals === 'poisson' ? poissonPacer(o.rate!) : constantPacer(o.rate!)) : undefined,
    durationS: o.durationS,
    requests: o.requests,
    warmupS: o.warmupS,
    signal: o.signal,
  }, o.guard);
}

/** Runs a load phase on `issuer` with a progress line, and closes the issuer however the phase ends. */
async function runIssued(label: string, issuer: Issuer, spec: Omit<LoadSpec, 'issue' | 'onProgress'> & { warmupS: number }, guard?: FailureGuard): Promise<Measured> {
  const progress = createProgress(label, spec.durationS !== undefined ? spec.durationS + spec.warmupS : undefined, spec.requests);
  try {
    const r: Measured = await runLoad({
      ...spec,
      issue: guard ? guard.wrap(issuer.issue) : issuer.issue,
      onProgress: (d, e) => progress.update(d, e),
      onPhase: (measured) => (measured ? issuer.path?.restart() : undefined),
    });
    if (issuer.path) {
      await issuer.path.pings.settled();
      r.path = issuer.path.summary();
    }
    return r;
  } finally {
    progress.end();
    await issuer.close();
  }
}

export async function runBench(conn: Connection, o: BenchOptions, images: LoadedImage[], rep: RunReport): Promise<string> {
  if (!o.sweep || o.sweep.length === 0) {
    const r = await oneLevel(conn, o, images, o.concurrency, `bench ${o.rpc}`);
    fillLoadReport(rep, r, o, { ...requestExtra(o.request), ...pathExtra(r, o.unaryTransport) }, { offeredRate: o.rate });
    addPathWarnings(rep, r);
    return loadSummaryText(rep, r.latency);
  }
  const levels: Array<SweepLevel & { images_per_s: number; errors: number }> = [];
  let last: Measured | undefined;
  const lines: string[] = ['concurrency   req/s   images/s   p50 ms   p99 ms   errors'];
  for (const c of o.sweep) {
    if (o.signal?.aborted) break;
    last = await oneLevel(conn, { ...o, rate: undefined }, images, c, `sweep c=${c}`);
    const s = summarize(last.latency);
    const secs = last.elapsedNs / 1e9 || 1;
    const lvl = { concurrency: c, throughput_rps: last.ok / secs, images_per_s: last.images / secs, p50_ms: s.percentiles_ms.p50, p99_ms: s.percentiles_ms.p99, errors: last.errors };
    levels.push(lvl);
    lines.push(`${String(c).padStart(11)} ${lvl.throughput_rps.toFixed(1).padStart(7)} ${lvl.images_per_s.toFixed(1).padStart(10)} ${lvl.p50_ms.toFixed(3).padStart(8)} ${lvl.p99_ms.toFixed(3).padStart(8)} ${String(lvl.errors).padStart(8)}`);
  }
  const knee = findKnee(levels);
  rep.sweep = { levels, knee };
  if (last) {
    fillLoadReport(rep, last, o, { sweep_last_level: levels[levels.length - 1]?.concurrency, ...requestExtra(o.request), ...pathExtra(last, o.unaryTransport) });
    addPathWarnings(rep, last);
  }
  if (knee) lines.push(`knee: concurrency ${knee.concurrency} — ${knee.reason}`);
  lines.push('(verdict, histogram and series below are for the last level)');
  return `${lines.join('\n')}\n${loadSummaryText(rep, last?.latency)}`;
}

export interface StreamOptions extends VerdictTargets {
  fps: number;
  window: number;
  durationS?: number;
  frames?: number;
  warmupS: number;
  topK: number;
  signal?: AbortSignal;
  guard?: FailureGuard;
  /** PINGs for the per-hop decomposition: on a separate connection (grpc-js streams cannot carry ours). */
  path?: { ping: PingFn; via: PingVia };
  connections?: number;
  /** What each frame carries (summary.request). */
  request?: RequestPayload;
}

export async function runStream(conn: Connection, o: StreamOptions, images: LoadedImage[], rep: RunReport): Promise<string> {
  if (images.length === 0) throw new Error('stream needs images (--images or --image-size)');
  const path = o.path ? createPathTracker(o.path.ping, o.path.via, o.connections ?? 1) : undefined;
  const r = await runIssued('stream', streamIssuer(conn, images, o.topK, o.window, path), {
    mode: 'open',
    concurrency: o.window,
    overflow: 'drop',
    pacer: () => constantPacer(o.fps),
    durationS: o.durationS,
    requests: o.frames,
    warmupS: o.warmupS,
    signal: o.signal,
  }, o.guard);
  fillStreamReport(rep, r, { budgetMs: o.budgetMs, fps: o.fps, percentile: o.percentile, window: o.window }, { ...requestExtra(o.request), ...pathExtra(r, undefined) });
  addPathWarnings(rep, r);
  const s = rep.summary as { achieved_fps: number };
  return `frames: ${r.scheduled} due at ${o.fps} fps, ${r.sent} sent, ${r.dropped} dropped (window ${o.window} full), achieved ${s.achieved_fps.toFixed(2)} fps\n${loadSummaryText(rep, r.latency)}`;
}
