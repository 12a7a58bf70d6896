/**
 * Wires the server together: transport security, auth and metrics interceptors, health, reflection, the
 * model, the batcher and the service. startServer() binds first (health answers NOT_SERVING while the model
 * loads, and Classify answers UNAVAILABLE), then loads and warms the model, then flips health to SERVING and
 * resolves. Nothing here reads process.argv or installs signal handlers: that is main.ts, so tests can start
 * as many servers as they like on port 0.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { Engine } from '../backends/engine';
import type { GetServerInfoResponse, InferenceServiceServer } from '../gen/inference/v1/inference';
import { realWeightsHint } from '../models/catalog';
import { loadServedModel, type ServedModel } from '../models/served-model';
import { authInterceptor, createTokenSet, loadTokens, METRICS_TOKENS_ENV_VAR, resolveExemptMethods, TOKENS_ENV_VAR, type TokenSet } from './auth';
import { createBatcher, type Batcher } from './batcher';
import { createHealth } from './health';
import { createLogger, type Logger } from './log';
import { createMetrics, metricsInterceptor, type ServerMetrics } from './metrics';
import { startMetricsEndpoint, type MetricsEndpoint } from './metrics-endpoint';
import { checkServerId, DEFAULT_SERVER_OPTIONS, hostServerId, resolveBatching, type ServerOptions } from './options';
import { configureSharp, DEFAULT_DECODE_THREADS } from '../models/preprocess';
import { addReflection } from './reflection';
import { createIngressGuard } from './ingress-guard';
import { clientIdentityInterceptor } from './client-identity';
import { createInferenceService, inferenceServiceDefinition } from './service';
import { redactSource, redactSourcesIn } from '../shared/source-name';
import { buildServerInfo } from './server-info';
import { createShutdown } from './shutdown';
import { serverCredentials, transportSecurity } from './tls';
import { serverVersion } from './versions';
import { unixNanos } from './wall-clock';
import { checkOrigins, startWebServer, type WebServer } from './web';

export type { ServerOptions } from './options';

export interface RunningServer {
  port: number;
  host: string;
  served: ServedModel;
  /** Port of the Prometheus endpoint, when enabled. */
  metricsPort?: number;
  /** Port of the web endpoint (gRPC-web, Connect, the page), when enabled. */
  webPort?: number;
  /** Milliseconds from startServer() to SERVING (model load and warm-up included). */
  startupMs: number;
  batcher: Batcher;
  log: Logger;
  /**
   * Health → NOT_SERVING, stop accepting calls, let in-flight ones finish for up to graceMs (default: the
   * --grace-ms option), then cancel what is left, release the engine. Safe to call twice.
   */
  shutdown(graceMs?: number): Promise<void>;
  /**
   * Re-reads --tokens-file and $INFER_TOKENS and swaps the accepted tokens at once (main.ts: SIGHUP), so a
   * token can be revoked or rotated without a restart. Throws, keeping the old tokens, when the file is
   * unreadable or holds none, or when the server started without auth. Returns the number of tokens.
   */
  reloadTokens(): number;
}

/**
 * Where a client can reach a server bound to `host`: the wildcard addresses are not dialable, so they become
 * the loopback addresses they include (`::` on Linux is dual-stack).
 */
export function reachableAddresses(host: string, port: number): string[] {
  const hosts = host === '::' || host === '0.0.0.0' ? ['127.0.0.1', '[::1]'] : [host.includes(':') ? `[${host}]` : host];
  return (host === '0.0.0.0' ? hosts.slice(0, 1) : hosts).map((h) => `${h}:${port}`);
}

/** The backend's reason in a few words; the full reasoning is the backendReason field and the auto: lines. */
export function shortBackendWhy(selection: { reason: string; log: string[] }): string {
  if (!selection.reason.startsWith('auto')) return 'as requested';
  const skipped = selection.log.filter((l) => l.startsWith('auto: skip ')).map((l) => l.slice('auto: skip '.length).split(':')[0]);
  return skipped.length > 0 ? `auto: best available; ${skipped.join(', ')} not usable here` : 'auto: best available';
}

function batcherSettings(info: GetServerInfoResponse): { maxBatch: number; maxQueueDelayUs: number } {
  return { maxBatch: info.batching?.maxBatch ?? 1, maxQueueDelayUs: info.batching?.maxQueueDelayMicros ?? 0 };
}

/**
 * `SERVING on 127.0.0.1:8000, [::1]:8000 — onnxruntime (auto: best available; …) — googlenet, SYNTHETIC
 * weights (seed:2014) — batches ≤ 4, no wait`.
 */
export function servingSummary(s: {
  addresses: string[];
  backend: string;
  selection: { reason: string; log: string[] };
  descriptor: { name: string; weights: string; weightsSource: string };
  batching: { maxBatch: number; maxQueueDelayUs: number };
}): string {
  const source = redactSource(s.descriptor.weightsSource);
  const weights = s.descriptor.weights === 'synthetic' ? `SYNTHETIC weights (${source})` : `real weights (${source})`;
  const b = s.batching;
  const batching = b.maxBatch <= 1 ? 'no batching' : `batches ≤ ${b.maxBatch}, ${b.maxQueueDelayUs > 0 ? `wait ≤ ${b.maxQueueDelayUs} µs` : 'no wait'}`;
  return `SERVING on ${s.addresses.join(', ')} — ${s.backend} (${shortBackendWhy(s.selection)}) — ${s.descriptor.name}, ${weights} — ${batching}`;
}

/** gRPC wants IPv6 literals in brackets. */
export function bindAddress(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h}:${port}`;
}

export async function startServer(partial: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const t0 = process.hrtime.bigint();
  const o: ServerOptions = { ...DEFAULT_SERVER_OPTIONS, ...stripUndefined(partial) };
  const log = createLogger(o.logLevel, { format: o.logFormat });
  configureSharp({ concurrency: o.decodeThreads ?? DEFAULT_DECODE_THREADS });

  // Everything that can fail on a typo fails before the (slow) model load.
  const tlsFiles = { certFile: o.tlsCert, keyFile: o.tlsKey, caFile: o.tlsCa };
  const credentials = serverCredentials(tlsFiles);
  const tokens = loadTokens({ tokensFile: o.tokensFile, envVar: TOKENS_ENV_VAR });
  const metricsTokens = loadTokens({ tokensFile: o.metricsTokensFile, envVar: METRICS_TOKENS_ENV_VAR });
  const exempt = resolveExemptMethods(o.authExempt);
  const serverId = o.serverId !== undefined ? checkServerId(o.serverId) : hostServerId(os.hostname());
  checkOrigins(o.webOrigins);

  let metrics: ServerMetrics | undefined;
  // The guard must come first: grpc-js hands the first interceptor its own call object (ingress-guard.ts).
  const guard = createIngressGuard({
    maxPendingBytes: o.maxPendingBytes,
    onRefused: (reason, method) => log.debug('call refused at ingress', { reason, method }),
    onUnsupported: (what) => log.error(what),
  });
  const interceptors: grpc.ServerInterceptor[] = [guard.interceptor];
  // Metrics exist before the model loads so the interceptor counts from the first call; the info gauge's
  // labels are set again once the model and backend are known (startMetricsEndpoint).
  if (o.metricsPort !== undefined) {
    metrics = createMetrics({ model: o.model, backend: o.backend, weights: 'unknown', version: serverVersion() });
    interceptors.push(metricsInterceptor(metrics));
  }
  if (o.tlsAllowedClient.length > 0) {
    if (!o.tlsCa) throw new Error('--tls-allowed-client needs --tls-ca (client certificates exist only with mutual TLS)');
    interceptors.push(clientIdentityInterceptor(o.tlsAllowedClient));
  }
  const tokenSet: TokenSet | undefined = tokens.length > 0 ? createTokenSet(tokens) : undefined;
  if (tokenSet) interceptors.push(authInterceptor({ tokens: tokenSet, exemptMethods: exempt }));
  const reloadTokens = (): number => {
    if (!tokenSet) throw new Error('the server started without auth; restart it with --tokens-file to turn auth on');
    const next = loadTokens({ tokensFile: o.tokensFile, envVar: TOKENS_ENV_VAR });
    tokenSet.replace(next);
    log.info('tokens reloaded', { tokens: next.length });
    return next.length;
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.max_send_message_length': o.maxMessageBytes,
    // Long ClassifyStreams: ping idle connections every 30 s and drop a peer that has not answered in 10 s,
    // so a vanished client's queued frames are freed within ~40 s even without a TCP reset. grpc-js enforces
    // no minimum interval on the client's own PINGs, so clients measuring HTTP/2 PING RTT are never cut off.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_concurrent_streams': o.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': orNever(o.maxConnectionIdleMs),
    'grpc.max_connection_age_ms': orNever(o.maxConnectionAgeMs),
    'grpc.max_connection_age_grace_ms': orNever(o.maxConnectionAgeGraceMs),
    interceptors,
  });

  const health = createHealth();
  health.addToServer(server);
  addReflection(server);
  const inference = addInferenceService(server);

  const { port, host } = await bindWithFallback(server, o.host, o.port, credentials, log);
  log.info('listening (NOT_SERVING until the model is warm)', { address: bindAddress(host, port), security: transportSecurity(tlsFiles), auth: tokens.length > 0 });
  if (!isLoopback(host) && tokens.length === 0) {
    log.warn(
      `EXPOSED: listening on ${bindAddress(host, port)} (beyond loopback) with NO authentication${o.tlsCert !== undefined ? '' : ' and NO TLS'}: ` +
        'anyone who can reach this port can classify, ping and read GetServerInfo. Put it behind the edge (deploy/), or set --tokens-file, or --host 127.0.0.1',
      { address: bindAddress(host, port) },
    );
  }
  let web: WebServer | undefined;
  if (o.webPort !== undefined) {
    try {
      web = await startWebServer({
        host,
        port: o.webPort,
        tls: tlsFiles,
        allowedClients: o.tlsAllowedClient,
        origins: o.webOrigins,
        handlers: inference.handlers,
        tokens: tokenSet,
        exemptMethods: exempt,
        metrics,
        maxMessageBytes: o.maxMessageBytes,
        budget: guard,
        connectionLimits: { idleMs: o.maxConnectionIdleMs, ageMs: o.maxConnectionAgeMs, ageGraceMs: o.maxConnectionAgeGraceMs },
        maxConcurrentStreams: o.maxConcurrentStreams,
        log,
      });
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
    log.info('web port: gRPC-web, Connect and the page', { address: bindAddress(host, web.port), page: `${transportSecurity(tlsFiles) === 'plaintext' ? 'http' : 'https'}://${reachableAddresses(host, web.port)[0]}/`, origins: o.webOrigins });
  }

  let served: ServedModel | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  let batcher: Batcher;
  let serverInfo: GetServerInfoResponse;
  let stopStreams: (() => void) | undefined;
  try {
    const loaded = await loadAndWarm(o, log);
    served = loaded.served;
    const { batching } = loaded;
    const { engine, descriptor } = served;
    const concurrentBatches = o.maxConcurrentBatches ?? engine.info.instances ?? 1;
    batcher = createBatcher(engine, {
      maxBatch: batching.maxBatch,
      maxQueueDelayUs: batching.maxQueueDelayUs,
      maxQueue: o.maxQueue,
      maxQueuePerOwner: o.maxQueuePerConnection ?? Math.ceil(o.maxQueue / 2),
      maxConcurrentBatches: concurrentBatches,
      normalize: descriptor.normalize,
    });
    serverInfo = buildServerInfo({ served, batching, options: { ...o, maxConcurrentBatches: concurrentBatches }, authRequired: tokens.length > 0, startedUnixNanos: unixNanos(), serverId });

    const service = createInferenceService({
      descriptor,
      numClasses: engine.numClasses,
      batcher,
      decode: { width: descriptor.inputWidth, height: descriptor.inputHeight, maxInputPixels: o.maxInputPixels, resize: o.resize, timeoutSeconds: o.decodeTimeoutS },
      maxMessageBytes: o.maxMessageBytes,
      maxPingResponseBytes: o.maxPingResponseBytes,
      serverInfo,
      log,
      metrics,
      streamWindow: o.streamWindow,
      serverId,
    });
    stopStreams = service.stopStreams;
    inference.ready(service.handlers);
    if (metrics) metricsEndpoint = await startMetricsEndpoint(metrics, { served, batcher, host: o.metricsHost, port: o.metricsPort ?? 0, isServing: health.isServing, tokens: metricsTokens });
  } catch (err) {
    // Whatever failed after binding (load, warm-up, metrics port), leave nothing behind.
    server.forceShutdown();
    await web?.close(0);
    await metricsEndpoint?.close().catch(() => undefined);
    await served?.engine.dispose().catch(() => undefined);
    throw err;
  }
  const { engine, descriptor } = served;

  health.setServing(true);
  const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  // The message carries what an operator checks first (where, which engine and why, which model and whose
  // weights, batching); the fields keep the detail for machines and for the curious.
  log.info(servingSummary({ addresses: reachableAddresses(host, port), backend: engine.info.backend, selection: served.selection, descriptor, batching: batcherSettings(serverInfo) }), {
    address: bindAddress(host, port),
    startupMs: Math.round(startupMs),
    backend: engine.info.backend,
    backendReason: served.selection.reason,
    executionProvider: engine.info.executionProvider,
    enginePlan: engine.info.plan,
    decodeThreads: o.decodeThreads ?? DEFAULT_DECODE_THREADS,
    model: descriptor.name,
    weights: descriptor.weights,
    weightsSource: redactSource(descriptor.weightsSource),
    input: `${descriptor.inputHeight}x${descriptor.inputWidth}x${descriptor.inputChannels}`,
    normalize: descriptor.normalize,
    classes: engine.numClasses,
    batching: serverInfo.batching,
    metricsPort: metricsEndpoint?.port,
  });

  const shutdown = createShutdown({ server, health, batcher, engine, metricsEndpoint, web, stopStreams, log, defaultGraceMs: o.graceMs, drainDelayMs: o.drainDelayMs });
  return { port, host, served, metricsPort: metricsEndpoint?.port, webPort: web?.port, startupMs, batcher, log, shutdown, reloadTokens };
}

/**
 * Loads and warms the model, then settles batching, whose defaults depend on the backend known only now
 * (options.ts, batchingDefaults). The engine is disposed again if the full-batch warm-up fails.
 */
async function loadAndWarm(o: ServerOptions, log: Logger): Promise<{ served: ServedModel; batching: { maxBatch: number; maxQueueDelayUs: number } }> {
  const served = await loadServedModel({
    backend: o.backend,
    model: o.model,
    weights: o.weights,
    labels: o.labels,
    inputSize: o.inputSize,
    normalize: o.normalize,
    threads: o.threads,
    instances: o.engineInstances,
    soloThreads: o.soloThreads,
    spin: o.intraOpSpin,
    cacheDir: o.cacheDir,
    log: (msg) => log.info(redactSourcesIn(msg)),
  });
  const { engine, descriptor } = served;
  if (descriptor.weights === 'synthetic') {
    log.warn('SYNTHETIC WEIGHTS: compute and timings are real, predicted labels are meaningless', {
      model: descriptor.name,
      weightsSource: descriptor.weightsSource,
      realWeights: realWeightsHint(),
    });
  }
  const batching = resolveBatching(o, engine.info.backend);
  log.info('batching', { maxBatch: batching.maxBatch, maxQueueDelayUs: batching.maxQueueDelayUs, reason: batching.reason });
  try {
    await warmFullBatch(engine, batching.maxBatch, log);
  } catch (err) {
    await engine.dispose().catch(() => undefined);
    throw err;
  }
  return { served, batching };
}

/**
 * Registers InferenceService before the model is loaded: until ready() is given the real handlers, they
 * answer UNAVAILABLE (health says NOT_SERVING meanwhile).
 */
function addInferenceService(server: grpc.Server): { ready(impl: InferenceServiceServer): void; handlers: InferenceServiceServer } {
  let impl: InferenceServiceServer | undefined;
  const notReady = { code: grpc.status.UNAVAILABLE, details: 'model is still loading; watch grpc.health.v1 for SERVING' };
  const handlers: InferenceServiceServer = {
    classify: (call, cb) => (impl ? impl.classify(call, cb) : cb(notReady)),
    classifyStream: (call) => {
      if (impl) impl.classifyStream(call);
      else call.emit('error', { ...notReady, metadata: new grpc.Metadata() });
    },
    ping: (call, cb) => (impl ? impl.ping(call, cb) : cb(notReady)),
    getServerInfo: (call, cb) => (impl ? impl.getServerInfo(call, cb) : cb(notReady)),
  };
  server.addService(inferenceServiceDefinition, handlers);
  return {
    handlers, // the web port serves these very handlers (web-service.ts)
    ready: (i) => {
      impl = i;
    },
  };
}

/** Binds `host`; the default '::' falls back to IPv4 where IPv6 is disabled (some containers and hosts). */
async function bindWithFallback(
  server: grpc.Server,
  host: string,
  port: number,
  credentials: grpc.ServerCredentials,
  log: Logger,
): Promise<{ host: string; port: number }> {
  const bind = (h: string): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const address = bindAddress(h, port);
      server.bindAsync(address, credentials, (err, p) => (err ? reject(new Error(`cannot bind ${address}: ${err.message}`)) : resolve(p)));
    });
  try {
    return { host, port: await bind(host) };
  } catch (err) {
    if (host !== '::' || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test(String(err))) throw err;
    log.warn('IPv6 unavailable, binding IPv4 only', { error: err instanceof Error ? err.message : String(err) });
    return { host: '0.0.0.0', port: await bind('0.0.0.0') };
  }
}

/**
 * loadServedModel warmed the engine with one image; a first full batch can still pay one-off costs (shape
 * specialisation, arena growth), so run one at start-up rather than in the first busy second.
 */
async function warmFullBatch(engine: Engine, maxBatch: number, log: Logger): Promise<void> {
  if (maxBatch <= 1) return;
  const w0 = process.hrtime.bigint();
  const [h, w, c] = engine.inputShape;
  await engine.predict(new Float32Array(maxBatch * h * w * c), maxBatch);
  log.info(`warm-up: one batch of ${maxBatch} in ${(Number(process.hrtime.bigint() - w0) / 1e6).toFixed(1)} ms`);
}

/** grpc-js takes a very large number, not 0, for "no limit". */
function orNever(ms: number): number {
  return ms > 0 ? ms : 2 ** 31 - 1;
}

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^::ffff:127\./i.test(h);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
