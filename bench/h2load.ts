/**
 * h2load (Debian nghttp2-client) as the one load generator for both sides of the anchor comparison: our
 * server's unary Classify over h2c, and the anchor (Flask + OpenCV, bench/anchor) over HTTP/1.1. The same C
 * client drives both, so neither side's figures carry our own client's cost.
 *
 * "In flight N" means N requests outstanding in total, each answered before its slot sends the next (closed
 * loop):
 * - ours: ONE connection with N concurrent streams (`-c 1 -m N`), how a gRPC client (ours, grpc-js, the C
 *   core) talks to one server: a single HTTP/2 channel, calls multiplexed on it;
 * - the anchor: N HTTP/1.1 clients with one request each (`--h1 -c N -m 1`): HTTP/1.1 has no multiplexing.
 *   Werkzeug answers every request with "Connection: close" (its dev server never keeps a connection alive),
 *   so each request is a new TCP connection served by a new thread, as it was for the old system's clients.
 *
 * How long: ours runs `warmUpS` seconds of the same load (`--warm-up-time`, connections kept), then measures
 * `durationS` seconds (`-D`). The anchor cannot be run that way: h2load 1.52 (Debian 12) races when a timed
 * run ends while HTTP/1.1 clients reconnect after "Connection: close", and then never exits (fixed upstream
 * in nghttp2 PR 2249, 2024). So the anchor runs fixed request counts (`-n`): warm-up rounds of 2·N requests
 * until `warmUpS` has passed (at least one round; together they give the rate), then one run of
 * rate × `durationS` requests; its images/s divide by that run's own elapsed time.
 *
 * Either way `--log-file` has one line per measured request (start µs, HTTP status, request time µs), from
 * which the latency percentiles are computed.
 *
 * h2load sees HTTP status only: a gRPC error still has HTTP status 200 (the gRPC status is in the trailers).
 * So the pre-framed Classify body is verified once with nghttp (verifyGrpcBody: grpc-status 0 and a response
 * message), and a caller that can read the server's Prometheus metrics (`--metrics-port`) passes
 * `metricsPort` to count calls that ended with another gRPC status during the run.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClassifyRequest } from '../src/gen/inference/v1/inference';
import { nearestRankSorted } from '../src/measure/stats';

import { anchorUnavailable } from './anchor/anchor-server';
export { startAnchor, anchorUnavailable, type AnchorOptions, type AnchorServer } from './anchor/anchor-server';

export const CLASSIFY_PATH = '/inference.v1.InferenceService/Classify';
export const PING_PATH = '/inference.v1.InferenceService/Ping';
export const ANCHOR_CLASSIFY_PATH = '/classify';

/** What one h2load run measured. */
export interface H2loadResult {
  /** 2xx responses logged in the measured run ÷ elapsed_s (one image per request). */
  images_per_s: number;
  /** Nearest-rank percentiles of the 2xx requests' times (send of the request → end of the response), ms. */
  p50_ms: number;
  p99_ms: number;
  /** Requests completed in the measured window (h2load's "done"). */
  done: number;
  /** Requests h2load counts failed, errored or timed out. */
  failed: number;
  /** Responses with an HTTP status other than 2xx. */
  non2xx: number;
  /**
   * Calls that ended with a gRPC status other than OK during the run (warm-up included), from the server's
   * grpc_server_handled_total; undefined when no metricsPort was given or for HTTP/1.1 runs.
   */
  grpc_not_ok?: number;
  /**
   * Calls that ended CANCELLED or UNIMPLEMENTED in the same window: h2load resets the requests in flight
   * when a timed run ends, and one cut mid-body reaches the server as a call without a message. At most
   * the in-flight count is expected; undefined as grpc_not_ok.
   */
  grpc_cut?: number;
  /** Length of the measured run, s: durationS for timed runs, h2load's own elapsed time for counted ones. */
  elapsed_s: number;
  /** The h2load command line of the measured run, for the record. */
  command: string;
}

export interface LoadShape {
  /** Requests outstanding in total (see the file comment for how each side gets them). */
  inFlight: number;
  /** Measured seconds (h2load -D). */
  durationS: number;
  /** Seconds of the same load before the measurement (see the file comment); 0 = none. */
  warmUpS: number;
}

/** How h2load's measured run is bounded: by time after a warm-up (-D, --warm-up-time) or by a request count (-n). */
export type H2loadBound = { durationS: number; warmUpS: number } | { requests: number };

/** The counters of h2load's summary. */
export interface H2loadSummary {
  /** "finished in …": the measured run's length, s (timed runs print warm-up + duration). */
  finishedS: number;
  reqPerS: number;
  total: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status2xx: number;
  status3xx: number;
  status4xx: number;
  status5xx: number;
}

/** One line of h2load's --log-file. */
export interface H2loadLogEntry {
  startUs: number;
  status: number;
  durationUs: number;
}

/** Tools missing from PATH among h2load and nghttp (nghttp2-client), empty when both run. */
export function missingH2Tools(): string[] {
  return ['h2load', 'nghttp'].filter((t) => spawnSync(t, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status !== 0);
}

/** Why ours and the anchor cannot both be driven with `image` here (the photo, h2load, the anchor's Python), or undefined. */
export function anchorRunUnavailable(image: string): string | undefined {
  const missing = [
    ...(fs.existsSync(image) ? [] : [`${image} not found (../shared is absent on a fresh clone)`]),
    ...missingH2Tools().map((t) => `${t} not found (apt-get install nghttp2-client)`),
    ...[anchorUnavailable()].filter((x): x is string => x !== undefined),
  ];
  return missing.length > 0 ? missing.join('; ') : undefined;
}

/** A gRPC length-prefixed message: flag byte 0 (not compressed), 4-byte big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The framed ClassifyRequest {image, top_k} that h2load sends as the body of every request. */
export function grpcClassifyBody(image: Uint8Array, topK: number = 5): Buffer {
  const bytes = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  return grpcFrame(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: bytes, topK })).finish());
}

/** Writes grpcClassifyBody(image file) to `outFile` and returns `outFile`. */
export function writeGrpcClassifyBody(imageFile: string, outFile: string, topK: number = 5): string {
  fs.writeFileSync(outFile, grpcClassifyBody(fs.readFileSync(imageFile), topK));
  return outFile;
}

export function parseH2loadSummary(stdout: string): H2loadSummary {
  const rps = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(stdout);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!rps || !req || !codes) throw new Error(`cannot parse h2load's summary:\n${stdout}`);
  const n = (s: string): number => Number(s);
  return {
    finishedS: n(rps[1]) / ({ us: 1e6, ms: 1e3, s: 1 } as Record<string, number>)[rps[2]], reqPerS: n(rps[3]), total: n(req[1]), started: n(req[2]), done: n(req[3]), succeeded: n(req[4]), failed: n(req[5]),
    errored: n(req[6]), timeout: n(req[7]), status2xx: n(codes[1]), status3xx: n(codes[2]), status4xx: n(codes[3]), status5xx: n(codes[4]),
  };
}

/** Lines "start-µs TAB status TAB duration-µs"; blank lines ignored, anything else is an error. */
export function parseH2loadLog(text: string): H2loadLogEntry[] {
  const out: H2loadLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('\t').map(Number);
    if (f.length !== 3 || f.some((x) => !Number.isFinite(x))) throw new Error(`unexpected h2load log line: ${JSON.stringify(line)}`);
    out.push({ startUs: f[0], status: f[1], durationUs: f[2] });
  }
  return out;
}

/**
 * Runs h2load with `args` (the connection shape and headers) against `url`, bounded by `bound`, and turns
 * summary + log into an H2loadResult. `inFlight` must be the total in flight that `args` sets up: requests
 * straddling the end of a warm-up may be counted by the summary's status codes and not logged (or the
 * reverse), at most one per slot, so the two accounts may differ by that much and no more. Throws when
 * h2load fails or its accounts differ by more.
 */
export async function runH2load(url: string, args: string[], bound: H2loadBound, inFlight: number): Promise<H2loadResult> {
  const timed = 'durationS' in bound;
  if (timed ? !(bound.durationS > 0) || !(bound.warmUpS >= 0) : !(Number.isInteger(bound.requests) && bound.requests > 0)) {
    throw new Error(`h2load: a run needs durationS > 0 and warmUpS ≥ 0, or a positive whole number of requests (got ${JSON.stringify(bound)})`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2load-'));
  const logFile = path.join(dir, 'requests.tsv');
  // h2load takes whole numbers with a unit: fractions of a second go as milliseconds.
  const duration = (s: number): string => (Number.isInteger(s) ? `${s}s` : `${Math.round(s * 1000)}ms`);
  const limit = timed
    ? ['-D', duration(bound.durationS), ...(bound.warmUpS > 0 ? ['--warm-up-time', duration(bound.warmUpS)] : [])]
    : ['-n', String(bound.requests)];
  const full = [...limit, '--log-file', logFile, ...args, url];
  const command = `h2load ${full.filter((a) => a !== logFile && a !== '--log-file').map((a) => (/[\s;']/.test(a) ? `'${a}'` : a)).join(' ')}`;
  try {
    // A counted run has no time limit of its own: allow it 10 minutes, a timed one its length plus a minute.
    const { stdout, stderr } = await run('h2load', full, timed ? (bound.durationS + bound.warmUpS + 60) * 1000 : 600_000);
    let s: H2loadSummary;
    try {
      s = parseH2loadSummary(stdout);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${stderr}`);
    }
    const log = parseH2loadLog(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
    const ok = log.filter((e) => e.status >= 200 && e.status < 300);
    if (Math.abs(ok.length - s.status2xx) > inFlight) {
      throw new Error(`h2load's log has ${ok.length} 2xx requests, its summary ${s.status2xx}, more apart than the ${inFlight} in flight; refusing figures that disagree (${command})`);
    }
    const ms = Float64Array.from(ok, (e) => e.durationUs / 1000).sort();
    const elapsed = timed ? bound.durationS : s.finishedS;
    return {
      images_per_s: ok.length / elapsed,
      p50_ms: nearestRankSorted(ms, 50),
      p99_ms: nearestRankSorted(ms, 99),
      done: s.done,
      failed: s.failed + s.errored + s.timeout,
      non2xx: s.status3xx + s.status4xx + s.status5xx,
      elapsed_s: elapsed,
      command,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * h2load against any unary gRPC method of our server over h2c: `connections` × `streamsPerConnection`
 * requests in flight, every one carrying `bodyFile` (a pre-framed request, e.g. writeGrpcClassifyBody's).
 */
export async function h2loadGrpc(o: {
  port: number;
  method: string;
  bodyFile: string;
  connections: number;
  streamsPerConnection: number;
  durationS: number;
  warmUpS: number;
  metricsPort?: number;
}): Promise<H2loadResult> {
  const before = o.metricsPort === undefined ? undefined : await grpcNotOkCount(o.metricsPort, o.method);
  const r = await runH2load(`http://127.0.0.1:${o.port}${o.method}`, ['-c', String(o.connections), '-m', String(o.streamsPerConnection),
    '-t', '1', '-d', o.bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers'], { durationS: o.durationS, warmUpS: o.warmUpS },
    o.connections * o.streamsPerConnection);
  if (before === undefined || o.metricsPort === undefined) return r;
  const after = await grpcNotOkCount(o.metricsPort, o.method);
  return { ...r, grpc_not_ok: after.notOk - before.notOk, grpc_cut: after.cut - before.cut };
}

/** Our server's Classify with `inFlight` streams on one h2c connection (see the file comment). */
export function h2loadClassify(o: LoadShape & { port: number; bodyFile: string; metricsPort?: number }): Promise<H2loadResult> {
  return h2loadGrpc({ ...o, method: CLASSIFY_PATH, connections: 1, streamsPerConnection: o.inFlight });
}

/**
 * The anchor's POST /classify with the raw image bytes, `inFlight` HTTP/1.1 clients × 1 request, bounded by
 * request counts (the file comment says why): warm-up rounds, then about `durationS` seconds' worth.
 */
export async function h2loadAnchor(o: LoadShape & { port: number; imageFile: string }): Promise<H2loadResult> {
  if (!Number.isInteger(o.inFlight) || o.inFlight < 1) throw new Error(`inFlight must be a positive integer, got ${o.inFlight}`);
  if (!(o.durationS > 0) || !(o.warmUpS >= 0)) throw new Error(`durationS must be > 0 and warmUpS ≥ 0 (got ${o.durationS}, ${o.warmUpS})`);
  const url = `http://127.0.0.1:${o.port}${ANCHOR_CLASSIFY_PATH}`;
  const args = ['--h1', '-c', String(o.inFlight), '-m', '1', '-t', '1', '-d', o.imageFile, '-H', 'content-type: application/octet-stream'];
  const t0 = performance.now();
  // The rate over all warm-up rounds: one short round alone is at the mercy of a noisy neighbour.
  let ok = 0;
  let elapsedS = 0;
  do {
    const w = await runH2load(url, args, { requests: 2 * o.inFlight }, o.inFlight);
    if (w.failed + w.non2xx > 0 || w.images_per_s === 0) return w; // the caller sees the failures
    ok += w.images_per_s * w.elapsed_s;
    elapsedS += w.elapsed_s;
  } while (performance.now() - t0 < o.warmUpS * 1000);
  const requests = Math.max(1, Math.round((ok / elapsedS) * o.durationS / o.inFlight)) * o.inFlight;
  return runH2load(url, args, { requests }, o.inFlight);
}

/** What nghttp saw for one request: the gRPC status and message from the trailers, and the DATA received. */
export interface GrpcCallCheck {
  grpcStatus: string;
  grpcMessage: string;
  responseDataBytes: number;
}

/** Sends `bodyFile` once to `method` with nghttp (h2load cannot read trailers) and reports the outcome. */
export async function nghttpGrpcCall(port: number, method: string, bodyFile: string): Promise<GrpcCallCheck> {
  const { stdout, stderr } = await run('nghttp', ['-v', '-d', bodyFile, '-H', ':method: POST', '-H', 'content-type: application/grpc',
    '-H', 'te: trailers', `http://127.0.0.1:${port}${method}`], 30_000, true);
  const status = /recv \(stream_id=\d+\) grpc-status: (\d+)/.exec(stdout);
  if (!status) throw new Error(`nghttp got no grpc-status from ${method}:\n${stdout.slice(-2000)}${stderr.slice(-1000)}`);
  const message = /recv \(stream_id=\d+\) grpc-message: (.*)/.exec(stdout);
  let data = 0;
  for (const m of stdout.matchAll(/recv DATA frame <length=(\d+)/g)) data += Number(m[1]);
  return { grpcStatus: status[1], grpcMessage: message ? message[1].trim() : '', responseDataBytes: data };
}

/** Throws unless `bodyFile` sent to `method` gets grpc-status 0 and a response message. */
export async function verifyGrpcBody(port: number, bodyFile: string, method: string = CLASSIFY_PATH): Promise<GrpcCallCheck> {
  const c = await nghttpGrpcCall(port, method, bodyFile);
  if (c.grpcStatus !== '0' || c.responseDataBytes < 5) {
    throw new Error(`the h2load body ${bodyFile} gets grpc-status ${c.grpcStatus} (${c.grpcMessage}) and ${c.responseDataBytes} response bytes from ${method}, not an OK response`);
  }
  return c;
}

export interface AnchorPrediction {
  class_index: number;
  label: string;
  probability: number;
}

/** Posts `imageFile` to the anchor once and throws unless it answers 200 with exactly 5 predictions. */
export async function verifyAnchor(port: number, imageFile: string): Promise<AnchorPrediction[]> {
  const res = await fetch(`http://127.0.0.1:${port}${ANCHOR_CLASSIFY_PATH}`, {
    method: 'POST', body: fs.readFileSync(imageFile), headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`anchor answered ${imageFile} with HTTP ${res.status}: ${text.slice(0, 500)}`);
  const preds = (JSON.parse(text) as { predictions?: AnchorPrediction[] }).predictions;
  if (!Array.isArray(preds) || preds.length !== 5 || preds.some((p) => !Number.isInteger(p.class_index) || typeof p.probability !== 'number')) {
    throw new Error(`anchor's answer for ${imageFile} does not carry 5 predictions: ${text.slice(0, 500)}`);
  }
  return preds;
}

/**
 * grpc_server_handled_total for `method` from our server's /metrics, split in two: `cut`, the calls that
 * ended CANCELLED or UNIMPLEMENTED ("no message received": what a stream h2load resets mid-request at the
 * end of a timed run becomes), and `notOk`, every other status but OK.
 */
export async function grpcNotOkCount(metricsPort: number, method: string): Promise<{ notOk: number; cut: number }> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`metrics on port ${metricsPort}: HTTP ${res.status}`);
  const name = method.slice(method.lastIndexOf('/') + 1);
  const n = { notOk: 0, cut: 0 };
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('grpc_server_handled_total{')) continue;
    if (!line.includes(`grpc_method="${name}"`) || line.includes('grpc_code="OK"')) continue;
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.includes('grpc_code="CANCELLED"') || line.includes('grpc_code="UNIMPLEMENTED"')) n.cut += count;
    else n.notOk += count;
  }
  return n;
}

/** execFile as a promise; rejects with the tool's stderr when it fails (unless `anyExit`) or cannot start. */
function run(cmd: string, args: string[], timeoutMs: number, anyExit: boolean = false): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (!anyExit || typeof err.code !== 'number')) {
        const how = err.signal ? `killed by ${err.signal}` : `exit ${String(err.code)}`;
        reject(new Error(`${cmd} failed (${how}): ${err.message.split('\n')[0]}\n${stdout.slice(-2000)}${stderr.slice(-2000)}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}
