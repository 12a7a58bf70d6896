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
import { classifyIssuer, Issuer, pingIssuer, streamIssuer } from './issuers';
import { grpcJsTransport, type UnaryTransport } from './unary-transport';
import { createProgress } from './progress';
import type { FailureGuard } from './failure-guard';

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
  /** --rpc ping over this transport (ping's own HTTP/2 client) instead of the grpc-js connection. */
  pingTransport?: UnaryTransport;
  /** Sees every outcome and stops a run whose first calls all fail alike (failure-guard.ts). */
  guard?: FailureGuard;
}

function issuerFor(conn: Connection, o: { rpc: Rpc; topK: number; payloadBytes: number; responseBytes: number; pingTransport?: UnaryTransport }, images: LoadedImage[], slots: number): Issuer {
  if (o.rpc === 'ping') return pingIssuer(o.pingTransport ?? grpcJsTransport(conn), o.payloadBytes, o.responseBytes, slots);
  if (images.length === 0) throw new Error(`--rpc ${o.rpc} needs images (--images or --image-size)`);
  return o.rpc === 'stream' ? streamIssuer(conn, images, o.topK, slots) : classifyIssuer(conn, images, o.topK, slots);
}

async function oneLevel(conn: Connection, o: BenchOptions, images: LoadedImage[], concurrency: number, label: string): Promise<LoadResult> {
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
async function runIssued(label: string, issuer: Issuer, spec: Omit<LoadSpec, 'issue' | 'onProgress'> & { warmupS: number }, guard?: FailureGuard): Promise<LoadResult> {
  const progress = createProgress(label, spec.durationS !== undefined ? spec.durationS + spec.warmupS : undefined, spec.requests);
  try {
    return await runLoad({ ...spec, issue: guard ? guard.wrap(issuer.issue) : issuer.issue, onProgress: (d, e) => progress.update(d, e) });
  } finally {
    progress.end();
    await issuer.close();
  }
}

export async function runBench(conn: Connection, o: BenchOptions, images: LoadedImage[], rep: RunReport): Promise<string> {
  if (!o.sweep || o.sweep.length === 0) {
    const r = await oneLevel(conn, o, images, o.concurrency, `bench ${o.rpc}`);
    fillLoadReport(rep, r, o, {}, { offeredRate: o.rate });
    return loadSummaryText(rep, r.latency);
  }
  const levels: Array<SweepLevel & { images_per_s: number; errors: number }> = [];
  let last: LoadResult | undefined;
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
  if (last) fillLoadReport(rep, last, o, { sweep_last_level: levels[levels.length - 1]?.concurrency });
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
}

export async function runStream(conn: Connection, o: StreamOptions, images: LoadedImage[], rep: RunReport): Promise<string> {
  if (images.length === 0) throw new Error('stream needs images (--images or --image-size)');
  const r = await runIssued('stream', streamIssuer(conn, images, o.topK, o.window), {
    mode: 'open',
    concurrency: o.window,
    overflow: 'drop',
    pacer: () => constantPacer(o.fps),
    durationS: o.durationS,
    requests: o.frames,
    warmupS: o.warmupS,
    signal: o.signal,
  }, o.guard);
  fillStreamReport(rep, r, { budgetMs: o.budgetMs, fps: o.fps, percentile: o.percentile, window: o.window });
  const s = rep.summary as { achieved_fps: number };
  return `frames: ${r.scheduled} due at ${o.fps} fps, ${r.sent} sent, ${r.dropped} dropped (window ${o.window} full), achieved ${s.achieved_fps.toFixed(2)} fps\n${loadSummaryText(rep, r.latency)}`;
}
