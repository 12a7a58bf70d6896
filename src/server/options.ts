/**
 * Server flags (yargs) and their environment variables. Every flag FOO_BAR can also be given as the
 * environment variable INFER_FOO_BAR (e.g. INFER_BACKEND=wasm, INFER_PORT=9000); a flag wins over the
 * environment. Defaults live in DEFAULT_SERVER_OPTIONS, each with the reason for its value.
 */
import yargs from 'yargs';
import { BACKEND_NAMES, type BackendName, type BackendRequest } from '../backends/engine';
import { NORMALIZATIONS, type Normalize } from '../models/model';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log';
import { DEFAULT_DECODE_TIMEOUT_S, DEFAULT_MAX_INPUT_PIXELS, RESIZE_MODES, type ResizeMode } from '../models/preprocess';
import { DEFAULT_HEAP_GROWING_PERCENT, isHeapGrowingPercent, MAX_HEAP_GROWING_PERCENT } from './heap-growth';

export const ENV_PREFIX = 'INFER';

export interface ServerOptions {
  /** Address to bind. '::' = every IPv6 and (dual-stack) IPv4 address. */
  host: string;
  /** 0 = an ephemeral port (tests). */
  port: number;
  backend: BackendRequest;
  /** 'googlenet' (builtin) or a path/URL to a tfjs model.json or an .onnx file. */
  model: string;
  weights?: string;
  labels?: string;
  inputSize?: number;
  normalize?: Normalize;
  /** Engine intra-op threads; undefined = the backend's default. */
  threads?: number;
  /** onnxruntime: sessions running batches side by side (each in its own worker); undefined = the default plan. */
  engineInstances?: number;
  /** onnxruntime: threads of the session that runs a batch when no other is running (0 = none); undefined = the default plan. */
  soloThreads?: number;
  /** onnxruntime: whether idle intra-op threads spin-wait; undefined = the default plan. */
  intraOpSpin?: boolean;
  /** libvips threads per decode (sharp.concurrency); undefined = the default plan. */
  decodeThreads?: number;
  /** Where exported ONNX models are cached. */
  cacheDir?: string;
  /** How the image is fitted to the model input (preprocess.ts). */
  resize: ResizeMode;
  /** Pixel-bomb limit: width × height of the encoded image, checked before decoding. */
  maxInputPixels: number;
  /** Decode budget per image, whole seconds (libvips' granularity); 0 = none. */
  decodeTimeoutS: number;
  /** Largest batch handed to the engine; undefined = the backend's default (batchingDefaults). */
  maxBatch?: number;
  /** How long the oldest queued image may wait for company, µs; undefined = the backend's default. */
  maxQueueDelayUs?: number;
  maxQueue: number;
  /** Places one client connection may hold in that queue; undefined = half of maxQueue (rounded up). */
  maxQueuePerConnection?: number;
  /** Batches on the engine at once; undefined = one per engine instance. */
  maxConcurrentBatches?: number;
  /** Frames of one ClassifyStream processed at once before the server stops reading it. */
  streamWindow: number;
  /** Largest request and response message. */
  maxMessageBytes: number;
  /** Largest padding a Ping may ask for (PingRequest.response_bytes). */
  maxPingResponseBytes: number;
  /** Server-wide budget of request bytes received and not yet handed to a handler (ingress-guard.ts). */
  maxPendingBytes: number;
  /** HTTP/2 streams (calls) one connection may have open at once. */
  maxConcurrentStreams: number;
  /** A connection with no call for this long is closed (GOAWAY). 0 = never. */
  maxConnectionIdleMs: number;
  /** A connection older than this is asked to go away (GOAWAY); its calls then get maxConnectionAgeGraceMs. 0 = never. */
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** With tlsCa: client certificate identities (subject CN or a SAN) allowed to call; empty = any the CA signed. */
  tlsAllowedClient: string[];
  /** File of bearer tokens (one a line); tokens also come from $INFER_TOKENS. None → no auth. */
  tokensFile?: string;
  /** Methods callable without a token: health, ping, reflection, none, /pkg.Svc/Method, /pkg.Svc/*. */
  authExempt: string[];
  /** Prometheus /metrics port; undefined = no metrics endpoint; 0 = ephemeral. */
  metricsPort?: number;
  metricsHost: string;
  /** Bearer tokens for /metrics, one a line (also $INFER_METRICS_TOKENS); none → /metrics is open. */
  metricsTokensFile?: string;
  logLevel: LogLevel;
  /** auto = human-readable text when stderr is a terminal, JSON lines otherwise. */
  logFormat: LogFormat;
  /** How long shutdown waits for in-flight requests before cancelling them. */
  graceMs: number;
  /**
   * On shutdown, how long health reports NOT_SERVING while calls are still accepted, so load balancers
   * stop sending before the listener closes.
   */
  drainDelayMs: number;
  /**
   * Nice levels the compute threads (inference workers, image decoding, V8's helpers) run below the
   * event-loop thread (thread-priority.ts; Linux only, applied by main.ts); 0 = all at the same priority.
   */
  computeNice: number;
  /**
   * V8's heap growing factor as a percent (heap-growth.ts; applied by main.ts): how far the heap may grow past
   * its live size before the next full collection; 0 = V8's own heuristics.
   */
  heapGrowingPercent: number;
  /** The replica's name in every response (server_id); undefined = the host name. */
  serverId?: string;
  /** gRPC-web, Connect and the browser page on this port (web.ts); undefined = off; 0 = ephemeral. */
  webPort?: number;
  /** Origins allowed to call the web port cross-origin, matched exactly. */
  webOrigins: string[];
}

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  host: '::',
  port: 8000,
  backend: 'auto',
  model: 'googlenet',
  resize: 'fill', // how tfjs-models/mobilenet and the seed fed ImageNet models; see preprocess.ts
  maxInputPixels: DEFAULT_MAX_INPUT_PIXELS,
  decodeTimeoutS: DEFAULT_DECODE_TIMEOUT_S,
  // 64 images ≈ 9.6 MB of decoded RGB at 224²; beyond that a client is better told RESOURCE_EXHAUSTED at once
  // than left waiting seconds behind a CPU backend.
  maxQueue: 64,
  streamWindow: 32,
  // 8 MiB: a 24 Mpx camera JPEG at high quality; the model sees 224², so clients should rarely send more.
  // Every open call may hold up to this much before a handler sees it (bounded by maxPendingBytes).
  maxMessageBytes: 8 * 1024 * 1024,
  // A bandwidth probe needs volume, not one huge response: 1 MiB each, more probes for more volume. A
  // larger cap lets a client that never reads make the server hold (cap × streams) per connection.
  maxPingResponseBytes: 1024 * 1024,
  // 8 max-size images in flight at once before new calls are refused; far above what a CPU replica decodes.
  maxPendingBytes: 64 * 1024 * 1024,
  // grpc-js advertises 2^32−1 otherwise; 100 is what gRPC's C core and Envoy's default clients expect.
  maxConcurrentStreams: 100,
  maxConnectionIdleMs: 5 * 60_000,
  // A connection lives an hour, and its calls get 10 more minutes once asked to go away, so clients
  // rebalance across replicas and no connection holds resources forever.
  maxConnectionAgeMs: 60 * 60_000,
  maxConnectionAgeGraceMs: 10 * 60_000,
  authExempt: ['health'],
  tlsAllowedClient: [],
  // Loopback: metrics name the model and backend and count every call; publish them deliberately.
  metricsHost: '127.0.0.1',
  logLevel: 'info',
  logFormat: 'auto',
  graceMs: 10_000,
  // The edge's active health check (Envoy: 5 s interval × 2 failures) must see NOT_SERVING before the
  // listener closes, or it keeps sending calls that are refused.
  drainDelayMs: 10_000,
  // Lowering needs no privilege; 5 levels ≈ a third of the weight, so the event loop's wake-ups under
  // saturation do not wait behind a compute thread's time slice (decision 0028).
  computeNice: 5,
  // V8's own choice fully collected a loaded server's heap every 0.4–0.6 s (decision 0029).
  heapGrowingPercent: DEFAULT_HEAP_GROWING_PERCENT,
  webOrigins: [],
};

export interface BatchingDefaults {
  maxBatch: number;
  maxQueueDelayUs: number;
  /** Why, in one line (logged at start-up). */
  reason: string;
}

/**
 * Per-backend batching defaults, resolved once the backend is known (app.ts); --max-batch and
 * --max-queue-delay-us override them. Why each backend gets its values, with the measurements and the
 * command that repeats them: docs/decisions/0005-per-backend-batching-defaults.md. In short:
 * - onnxruntime (CPU, in a worker thread, so predict is asynchronous): batches form by themselves under
 *   load while a batch runs, so no delay; a larger batch only makes each batch longer.
 * - wasm and cpu (tfjs on the JS thread: predict blocks the event loop, so nothing queues behind a running
 *   batch and with delay 0 every batch is 1): batching did not pay when served, so batch 1.
 * - tensorflow (tfjs-node, native CPU): not measured; treated like onnxruntime CPU.
 * - GPU backends (onnxruntime-cuda, tensorflow-gpu): not measured (no GPU on the build machines); a GPU gains
 *   from batches far beyond a CPU's and a short delay lets them fill at moderate load, so a conservative
 *   starting point, to be measured on the GPU host.
 */
export function batchingDefaults(backend: BackendName): BatchingDefaults {
  switch (backend) {
    case 'onnxruntime-cuda':
    case 'tensorflow-gpu':
      return { maxBatch: 8, maxQueueDelayUs: 1000, reason: 'GPU backend: batch 8, 1 ms delay (starting point, not measured: docs/decisions/0005)' };
    case 'wasm':
    case 'cpu':
      return { maxBatch: 1, maxQueueDelayUs: 0, reason: 'tfjs on the JS thread: batching did not pay when served (docs/decisions/0005)' };
    case 'onnxruntime':
    case 'tensorflow':
      return { maxBatch: 4, maxQueueDelayUs: 0, reason: 'native CPU engine: batches of up to 4 form under load, no delay (docs/decisions/0005)' };
  }
}

/** The batching settings a server runs with: flags where given, else the backend's defaults. */
export function resolveBatching(o: Pick<ServerOptions, 'maxBatch' | 'maxQueueDelayUs'>, backend: BackendName): BatchingDefaults {
  const d = batchingDefaults(backend);
  const given = o.maxBatch !== undefined || o.maxQueueDelayUs !== undefined;
  return {
    maxBatch: o.maxBatch ?? d.maxBatch,
    maxQueueDelayUs: o.maxQueueDelayUs ?? d.maxQueueDelayUs,
    reason: given ? `set by flags (backend default: ${d.reason})` : d.reason,
  };
}

const KNOWN_FLAGS = new Set([
  'host', 'port', 'backend', 'model', 'weights', 'labels', 'input-size', 'normalize', 'threads', 'cache-dir', 'resize',
  'max-input-pixels', 'max-batch', 'max-queue-delay-us', 'max-queue', 'max-concurrent-batches', 'stream-window',
  'max-message-bytes', 'tls-cert', 'tls-key', 'tls-ca', 'tokens-file', 'auth-exempt', 'metrics-port', 'metrics-host',
  'log-level', 'log-format', 'grace-ms', 'server-id', 'help', 'decode-timeout-s', 'max-queue-per-connection',
  'max-ping-response-bytes', 'max-pending-bytes', 'max-concurrent-streams', 'max-connection-idle-ms',
  'max-connection-age-ms', 'max-connection-age-grace-ms', 'drain-delay-ms', 'metrics-tokens-file', 'tls-allowed-client',
  'web-port', 'web-origins', 'engine-instances', 'intra-op-spin', 'decode-threads', 'solo-threads', 'compute-nice',
  'heap-growing-percent',
]);

/** Whole-number flags whose default is derived later (from the backend or the cores), so absent is fine. */
const DERIVED_DEFAULTS: ReadonlySet<string> = new Set(['max-batch', 'max-queue-per-connection', 'max-concurrent-batches', 'engine-instances', 'decode-threads', 'threads']);

function rejectUnknownFlags(argv: string[], positional: Array<string | number>): void {
  if (positional.length > 0) throw new Error(`unexpected argument(s): ${positional.join(' ')} (flags start with --)`);
  const unknown = argv
    .filter((a) => a.startsWith('--') && a.length > 2)
    .map((a) => a.slice(2).split('=')[0].replace(/^no-/, ''))
    .filter((name) => !KNOWN_FLAGS.has(name));
  if (unknown.length > 0) throw new Error(`unknown flag(s): ${unknown.map((u) => `--${u}`).join(', ')} (see --help)`);
}

/** Parses argv (without node and script) and INFER_* environment variables. Exits 2 on a usage error. */
export function parseServerArgs(argv: string[]): ServerOptions {
  const d = DEFAULT_SERVER_OPTIONS;
  const a = yargs(argv)
    .scriptName('npm start --')
    .usage('$0 [options]\n\nServes inference.v1.InferenceService over gRPC. Every flag --foo-bar can also be set as INFER_FOO_BAR.')
    // Not .strict(): yargs would then also reject INFER_* variables meant for others (INFER_TOKENS is read by
    // auth.ts). Unknown command-line flags are still refused, by rejectUnknownFlags below.
    .env(ENV_PREFIX)
    .option('host', { type: 'string', default: d.host, describe: "Address to bind ('::' = all IPv6 and IPv4)" })
    .option('port', { type: 'number', default: d.port, describe: 'Port (0 = ephemeral)' })
    .option('backend', {
      choices: ['auto', ...BACKEND_NAMES] as const,
      default: d.backend,
      describe: 'Inference engine; auto picks the fastest available and logs why',
    })
    .option('model', { type: 'string', default: d.model, describe: "'googlenet' or a path/URL to a tfjs model.json or .onnx" })
    .option('weights', { type: 'string', describe: 'GoogLeNet weights dir/URL (tfjs layers format); default: seeded synthetic' })
    .option('labels', { type: 'string', describe: 'Labels file (one per line, or JSON array)' })
    .option('input-size', { type: 'number', describe: 'Model input height = width (when the model does not say)' })
    .option('normalize', { choices: NORMALIZATIONS, describe: 'Pixel normalisation (default: from the model or its manifest)' })
    .option('threads', { type: 'number', describe: 'Engine intra-op threads per instance (default: from the cores, see --engine-instances)' })
    .option('engine-instances', { type: 'number', describe: 'onnxruntime: model copies running batches side by side, each in its own thread (default: from the cores)' })
    .option('solo-threads', { type: 'number', describe: 'onnxruntime: threads of an extra session that runs a batch only when no other is running, so a lone request gets every core (0 = none; default: from the cores)' })
    .option('intra-op-spin', { type: 'boolean', describe: 'onnxruntime: let idle intra-op threads spin-wait (default: off when serving)' })
    .option('decode-threads', { type: 'number', describe: 'libvips threads per image decode (default: 1)' })
    .option('cache-dir', { type: 'string', describe: 'Cache for exported ONNX models' })
    .option('resize', { choices: RESIZE_MODES, default: d.resize, describe: 'fill = plain resize; crop = shorter side + centre crop' })
    .option('max-input-pixels', { type: 'number', default: d.maxInputPixels, describe: 'Reject images with more pixels (checked on the header, before decoding)' })
    .option('decode-timeout-s', { type: 'number', default: d.decodeTimeoutS, describe: 'Decode budget per image in whole seconds; past it → INVALID_ARGUMENT (0 = none)' })
    .option('max-batch', { type: 'number', describe: 'Largest batch handed to the engine (default: per backend — 4 onnxruntime/tensorflow, 1 wasm/cpu, 8 GPU)' })
    .option('max-queue-delay-us', { type: 'number', describe: 'How long the oldest queued image may wait for a batch to fill (default: per backend — 0 on CPU, 1000 on GPU)' })
    .option('max-queue', { type: 'number', default: d.maxQueue, describe: 'Images that may wait; beyond → RESOURCE_EXHAUSTED at once' })
    .option('max-queue-per-connection', { type: 'number', describe: 'Places in that queue one client connection may hold (default: half of --max-queue)' })
    .option('max-concurrent-batches', { type: 'number', describe: 'Batches running on the engine at once (default: one per engine instance)' })
    .option('stream-window', { type: 'number', default: d.streamWindow, describe: 'Unanswered frames per ClassifyStream before the server stops reading it' })
    .option('max-message-bytes', { type: 'number', default: d.maxMessageBytes, describe: 'Largest request/response message' })
    .option('max-ping-response-bytes', { type: 'number', default: d.maxPingResponseBytes, describe: 'Largest padding a Ping may ask for (response_bytes)' })
    .option('max-pending-bytes', { type: 'number', default: d.maxPendingBytes, describe: 'Request bytes received and not yet processed, server-wide; beyond → RESOURCE_EXHAUSTED' })
    .option('max-concurrent-streams', { type: 'number', default: d.maxConcurrentStreams, describe: 'Calls open at once on one HTTP/2 connection' })
    .option('max-connection-idle-ms', { type: 'number', default: d.maxConnectionIdleMs, describe: 'Close a connection with no call for this long (0 = never)' })
    .option('max-connection-age-ms', { type: 'number', default: d.maxConnectionAgeMs, describe: 'Ask a connection older than this to go away (0 = never)' })
    .option('max-connection-age-grace-ms', { type: 'number', default: d.maxConnectionAgeGraceMs, describe: 'Time the calls of a connection asked to go away get to finish' })
    .option('tls-cert', { type: 'string', describe: 'PEM certificate chain (enables TLS)' })
    .option('tls-key', { type: 'string', describe: 'PEM private key for --tls-cert' })
    .option('tls-ca', { type: 'string', describe: 'PEM CA bundle: require client certificates signed by it (mTLS)' })
    .option('tls-allowed-client', { type: 'array', string: true, default: d.tlsAllowedClient, describe: 'With --tls-ca: client certificate CNs or SANs allowed to call (default: any the CA signed)' })
    .option('tokens-file', { type: 'string', describe: 'Bearer tokens, one a line (also $INFER_TOKENS); enables auth' })
    .option('auth-exempt', { type: 'array', string: true, default: d.authExempt, describe: 'Methods callable without a token: health, ping, reflection, none, /pkg.Svc/Method' })
    .option('metrics-port', { type: 'number', describe: 'Serve Prometheus /metrics on this port (off when not given)' })
    .option('metrics-host', { type: 'string', default: d.metricsHost, describe: 'Address for the metrics endpoint' })
    .option('metrics-tokens-file', { type: 'string', describe: 'Bearer tokens for /metrics, one a line (also $INFER_METRICS_TOKENS); /livez and /readyz stay open' })
    .option('log-level', { choices: LOG_LEVELS, default: d.logLevel, describe: 'Least severe log level written (logs go to stderr)' })
    .option('log-format', { choices: LOG_FORMATS, default: d.logFormat, describe: 'auto = readable text when stderr is a terminal, JSON lines otherwise' })
    .option('grace-ms', { type: 'number', default: d.graceMs, describe: 'On SIGTERM/SIGINT, how long in-flight requests may finish' })
    .option('drain-delay-ms', { type: 'number', default: d.drainDelayMs, describe: 'On SIGTERM/SIGINT, how long health says NOT_SERVING while calls are still taken (≥ the load balancer\'s check interval × failures)' })
    .option('heap-growing-percent', { type: 'number', default: d.heapGrowingPercent, describe: `How far V8 lets the event loop's heap grow past its live size before the next full collection, in % (0 = V8's own heuristics, at most ${MAX_HEAP_GROWING_PERCENT})` })
    .option('compute-nice', { type: 'number', default: d.computeNice, describe: 'Run the compute threads (inference, decoding) this many nice levels below the thread that reads requests and sends replies (Linux; 0 = off)' })
    .option('server-id', { type: 'string', describe: 'This replica\'s name, sent as server_id in every response (default: the host name)' })
    .option('web-port', { type: 'number', describe: 'Serve gRPC-web, Connect (JSON and binary) and the browser page on this port (off when not given)' })
    .option('web-origins', { type: 'array', string: true, default: d.webOrigins, describe: 'Origins allowed to call the web port cross-origin, matched exactly (https://host:port)' })
    .check((v) => {
      rejectUnknownFlags(argv, v._);
      for (const k of ['port', 'max-batch', 'max-queue', 'max-message-bytes', 'max-input-pixels', 'max-concurrent-batches', 'stream-window', 'max-queue-per-connection', 'max-pending-bytes', 'max-concurrent-streams', 'engine-instances', 'decode-threads', 'threads'] as const) {
        const n: number | undefined = v[k];
        if (n === undefined && DERIVED_DEFAULTS.has(k)) continue;
        if (n === undefined || !Number.isInteger(n) || n < (k === 'port' ? 0 : 1)) throw new Error(`--${k} must be a whole number${k === 'port' ? ' ≥ 0' : ' ≥ 1'} (got ${String(n)})`);
      }
      const solo: number | undefined = v['solo-threads'];
      if (solo !== undefined && (!Number.isInteger(solo) || solo < 0)) throw new Error(`--solo-threads must be a whole number ≥ 0 (got ${String(solo)})`);
      if (v['max-queue-delay-us'] !== undefined && !(v['max-queue-delay-us'] >= 0)) throw new Error(`--max-queue-delay-us must be ≥ 0 (got ${v['max-queue-delay-us']})`);
      if (v.port > 65535) throw new Error(`--port must be ≤ 65535 (got ${v.port})`);
      const cn: number = v['compute-nice'];
      if (!Number.isInteger(cn) || cn < 0 || cn > 19) throw new Error(`--compute-nice must be a whole number 0–19 (got ${String(cn)})`);
      const hg: number = v['heap-growing-percent'];
      if (!isHeapGrowingPercent(hg)) throw new Error(`--heap-growing-percent must be a whole number 0–${MAX_HEAP_GROWING_PERCENT} (got ${String(hg)})`);
      const web: number | undefined = v['web-port'];
      if (web !== undefined && (!Number.isInteger(web) || web < 0 || web > 65535)) throw new Error(`--web-port must be a whole number 0–65535 (got ${String(web)})`);
      for (const k of ['decode-timeout-s', 'max-ping-response-bytes', 'max-connection-idle-ms', 'max-connection-age-ms', 'max-connection-age-grace-ms', 'drain-delay-ms'] as const) {
        const n: number = v[k];
        if (!Number.isInteger(n) || n < 0) throw new Error(`--${k} must be a whole number ≥ 0 (got ${String(n)})`);
      }
      if (v['server-id'] !== undefined) checkServerId(String(v['server-id']));
      return true;
    })
    .fail((msg, err, y) => {
      // Usage errors exit 2 (irtt's convention), distinct from start-up failures (1).
      process.stderr.write(`${y.help().toString()}\n\n${msg ?? err?.message ?? 'invalid arguments'}\n`);
      process.exit(2);
    })
    .help()
    .version(false)
    .wrap(Math.min(120, process.stdout.columns ?? 120))
    .parseSync();
  return {
    host: a.host,
    port: a.port,
    backend: a.backend as BackendRequest,
    model: a.model,
    weights: a.weights,
    labels: a.labels,
    inputSize: a['input-size'],
    normalize: a.normalize as Normalize | undefined,
    threads: a.threads,
    engineInstances: a['engine-instances'],
    intraOpSpin: a['intra-op-spin'],
    soloThreads: a['solo-threads'],
    decodeThreads: a['decode-threads'],
    cacheDir: a['cache-dir'],
    resize: a.resize as ResizeMode,
    maxInputPixels: a['max-input-pixels'],
    decodeTimeoutS: a['decode-timeout-s'],
    maxQueuePerConnection: a['max-queue-per-connection'],
    maxPingResponseBytes: a['max-ping-response-bytes'],
    maxPendingBytes: a['max-pending-bytes'],
    maxConcurrentStreams: a['max-concurrent-streams'],
    maxConnectionIdleMs: a['max-connection-idle-ms'],
    maxConnectionAgeMs: a['max-connection-age-ms'],
    maxConnectionAgeGraceMs: a['max-connection-age-grace-ms'],
    drainDelayMs: a['drain-delay-ms'],
    computeNice: a['compute-nice'],
    heapGrowingPercent: a['heap-growing-percent'],
    maxBatch: a['max-batch'],
    maxQueueDelayUs: a['max-queue-delay-us'],
    maxQueue: a['max-queue'],
    maxConcurrentBatches: a['max-concurrent-batches'],
    streamWindow: a['stream-window'],
    maxMessageBytes: a['max-message-bytes'],
    tlsCert: a['tls-cert'],
    tlsKey: a['tls-key'],
    tlsCa: a['tls-ca'],
    tlsAllowedClient: (a['tls-allowed-client'] ?? d.tlsAllowedClient).map(String),
    tokensFile: a['tokens-file'],
    authExempt: (a['auth-exempt'] ?? d.authExempt).map(String),
    metricsPort: a['metrics-port'],
    metricsHost: a['metrics-host'],
    metricsTokensFile: a['metrics-tokens-file'],
    logLevel: a['log-level'] as LogLevel,
    logFormat: a['log-format'] as LogFormat,
    graceMs: a['grace-ms'],
    serverId: a['server-id'],
    webPort: a['web-port'],
    webOrigins: (a['web-origins'] ?? d.webOrigins).map(String),
  };
}

/** Longest --server-id: it travels in every response, so it stays short. */
export const MAX_SERVER_ID_LENGTH = 64;

/**
 * A replica name goes into responses, logs and metrics labels of other tools: printable ASCII without
 * spaces, so a report can always print it as it is.
 */
export function checkServerId(id: string): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(id) || id.length > MAX_SERVER_ID_LENGTH) {
    throw new Error(`--server-id must be 1–${MAX_SERVER_ID_LENGTH} characters of A–Z a–z 0–9 . _ : - (got ${JSON.stringify(id.slice(0, 80))})`);
  }
  return id;
}

/** The default replica name: the host name, with anything --server-id would refuse replaced by '-'. */
export function hostServerId(hostname: string): string {
  const id = hostname.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, MAX_SERVER_ID_LENGTH);
  return id.length > 0 ? id : 'server';
}
