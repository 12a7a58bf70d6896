/**
 * Wires the server together: transport security, auth and metrics interceptors, health, reflection, the
 * model, the batcher and the service. startServer() binds first (health answers NOT_SERVING while the model
 * loads, and Classify answers UNAVAILABLE), then loads and warms the model, then flips health to SERVING and
 * resolves. Nothing here reads process.argv or installs signal handlers: that is main.ts, so tests can start
 * as many servers as they like on port 0.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { GetServerInfoResponse, InferenceServiceServer } from '../gen/inference/v1/inference';
import { loadServedModel, type ServedModel } from '../models/served-model';
import { authInterceptor, loadTokens, resolveExemptMethods, TOKENS_ENV_VAR } from './auth';
import { createBatcher, type Batcher } from './batcher';
import { createHealth } from './health';
import { createLogger, type Logger } from './log';
import { createMetrics, metricsInterceptor, startMetricsServer, type ServerMetrics } from './metrics';
import { DEFAULT_SERVER_OPTIONS, resolveBatching, type ServerOptions } from './options';
import { configureSharp } from '../models/preprocess';
import { addReflection } from './reflection';
import { createInferenceService, inferenceServiceDefinition, provenance } from './service';
import { serverCredentials, transportSecurity } from './tls';
import { componentVersions, serverVersion } from './versions';
import { unixNanos } from './wall-clock';

export type { ServerOptions } from './options';

export interface RunningServer {
  port: number;
  host: string;
  served: ServedModel;
  /** Port of the Prometheus endpoint, when enabled. */
  metricsPort?: number;
  /** Milliseconds from startServer() to SERVING (model load and warm-up included). */
  startupMs: number;
  batcher: Batcher;
  log: Logger;
  /**
   * Health → NOT_SERVING, stop accepting calls, let in-flight ones finish for up to graceMs (default: the
   * --grace-ms option), then cancel what is left, release the engine. Safe to call twice.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** gRPC wants IPv6 literals in brackets. */
export function bindAddress(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h}:${port}`;
}

export async function startServer(partial: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const t0 = process.hrtime.bigint();
  const o: ServerOptions = { ...DEFAULT_SERVER_OPTIONS, ...stripUndefined(partial) };
  const log = createLogger(o.logLevel);
  configureSharp();

  // Everything that can fail on a typo fails before the (slow) model load.
  const tlsFiles = { certFile: o.tlsCert, keyFile: o.tlsKey, caFile: o.tlsCa };
  const credentials = serverCredentials(tlsFiles);
  const tokens = loadTokens({ tokensFile: o.tokensFile, envVar: TOKENS_ENV_VAR });
  const exempt = resolveExemptMethods(o.authExempt);

  let metrics: ServerMetrics | undefined;
  const interceptors: grpc.ServerInterceptor[] = [];
  // Metrics exist before the model loads so the interceptor counts from the first call; the info gauge's
  // labels are set again once the model and backend are known.
  if (o.metricsPort !== undefined) {
    metrics = createMetrics({ model: o.model, backend: o.backend, weights: 'unknown', version: serverVersion() });
    interceptors.push(metricsInterceptor(metrics));
  }
  if (tokens.length > 0) interceptors.push(authInterceptor({ tokens, exemptMethods: exempt }));

  const server = new grpc.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.max_send_message_length': o.maxMessageBytes,
    // Long ClassifyStreams: ping idle connections every 30 s and drop a peer that has not answered in 10 s,
    // so a vanished client's queued frames are freed within ~40 s even without a TCP reset.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    interceptors,
  });

  const health = createHealth();
  health.addToServer(server);
  addReflection(server);

  // Until the model is warm the inference handlers answer UNAVAILABLE (health says NOT_SERVING meanwhile).
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

  const bind = (host: string): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const address = bindAddress(host, o.port);
      server.bindAsync(address, credentials, (err, p) => (err ? reject(new Error(`cannot bind ${address}: ${err.message}`)) : resolve(p)));
    });
  let boundHost = o.host;
  let port: number;
  try {
    port = await bind(o.host);
  } catch (err) {
    // Containers and hosts with IPv6 disabled cannot bind [::]; the default should still start there.
    if (o.host !== '::' || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test(String(err))) throw err;
    log.warn('IPv6 unavailable, binding IPv4 only', { error: err instanceof Error ? err.message : String(err) });
    boundHost = '0.0.0.0';
    port = await bind(boundHost);
  }
  log.info('listening (NOT_SERVING until the model is warm)', { address: bindAddress(boundHost, port), security: transportSecurity(tlsFiles), auth: tokens.length > 0 });

  let served: ServedModel | undefined;
  let metricsServer: { port: number; close(): Promise<void> } | undefined;
  let batcher: Batcher;
  let serverInfo: GetServerInfoResponse;
  try {
    served = await loadServedModel({
      backend: o.backend,
      model: o.model,
      weights: o.weights,
      labels: o.labels,
      inputSize: o.inputSize,
      normalize: o.normalize,
      threads: o.threads,
      cacheDir: o.cacheDir,
      log: (msg) => log.info(msg),
    });
    const { engine, descriptor } = served;
    if (descriptor.weights === 'synthetic') {
      log.warn('SYNTHETIC WEIGHTS: compute and timings are real, predicted labels are meaningless', { model: descriptor.name, weightsSource: descriptor.weightsSource });
    }

    // Batching defaults depend on the backend, known only now (options.ts, batchingDefaults).
    const batching = resolveBatching(o, engine.info.backend);
    log.info('batching', { maxBatch: batching.maxBatch, maxQueueDelayUs: batching.maxQueueDelayUs, reason: batching.reason });

    // loadServedModel warmed the engine with one image; a first full batch can still pay one-off costs (shape
    // specialisation, arena growth), so run one at start-up rather than in the first busy second.
    if (batching.maxBatch > 1) {
      const w0 = process.hrtime.bigint();
      const [h, w, c] = engine.inputShape;
      await engine.predict(new Float32Array(batching.maxBatch * h * w * c), batching.maxBatch);
      log.info(`warm-up: one batch of ${batching.maxBatch} in ${(Number(process.hrtime.bigint() - w0) / 1e6).toFixed(1)} ms`);
    }

    batcher = createBatcher(engine, {
      maxBatch: batching.maxBatch,
      maxQueueDelayUs: batching.maxQueueDelayUs,
      maxQueue: o.maxQueue,
      maxConcurrentBatches: o.maxConcurrentBatches,
      normalize: descriptor.normalize,
    });

    const startedUnixNanos = unixNanos();
    serverInfo = {
      engine: {
        backend: engine.info.backend,
        reason: served.selection.reason,
        selectionLog: served.selection.log,
        library: engine.info.library,
        version: engine.info.version,
        threads: engine.info.threads,
        executionProvider: engine.info.executionProvider,
      },
      model: {
        name: descriptor.name,
        source: descriptor.source,
        format: descriptor.format,
        inputHeight: descriptor.inputHeight,
        inputWidth: descriptor.inputWidth,
        inputChannels: descriptor.inputChannels,
        normalize: descriptor.normalize,
        numClasses: engine.numClasses,
        labelsSource: descriptor.labelsSource,
        weights: provenance(descriptor.weights),
        weightsSource: descriptor.weightsSource,
        parameters: BigInt(descriptor.parameters),
      },
      batching: {
        maxBatch: batching.maxBatch,
        maxQueueDelayMicros: batching.maxQueueDelayUs,
        maxQueue: o.maxQueue,
        maxConcurrentBatches: o.maxConcurrentBatches,
      },
      versions: componentVersions(),
      maxMessageBytes: o.maxMessageBytes,
      hostname: os.hostname(),
      cpus: os.cpus().length,
      startedUnixNanos,
      tls: o.tlsCert !== undefined,
      authRequired: tokens.length > 0,
    };

    impl = createInferenceService({
      descriptor,
      numClasses: engine.numClasses,
      batcher,
      decode: { width: descriptor.inputWidth, height: descriptor.inputHeight, maxInputPixels: o.maxInputPixels, resize: o.resize },
      maxMessageBytes: o.maxMessageBytes,
      serverInfo,
      log,
      metrics,
      streamWindow: o.streamWindow,
      maxWaiting: o.maxQueue,
    });

    if (metrics) {
      metrics.info.reset();
      metrics.info.set(
        {
          model: descriptor.name,
          backend: engine.info.backend,
          execution_provider: engine.info.executionProvider,
          weights: descriptor.weights,
          input_size: String(descriptor.inputHeight),
          version: serverVersion(),
        },
        1,
      );
      const m = metrics;
      const b = batcher;
      m.setQueueDepthSource(() => b.stats().queued);
      m.setLiveTensorsSource(() => engine.liveTensors());
      metricsServer = await startMetricsServer(m, { host: o.metricsHost, port: o.metricsPort ?? 0 });
    }
  } catch (err) {
    // Whatever failed after binding (load, warm-up, metrics port), leave nothing behind.
    server.forceShutdown();
    await metricsServer?.close().catch(() => undefined);
    await served?.engine.dispose().catch(() => undefined);
    throw err;
  }
  const { engine, descriptor } = served;

  health.setServing(true);
  const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  log.info('SERVING', {
    address: bindAddress(boundHost, port),
    startupMs: Math.round(startupMs),
    backend: engine.info.backend,
    backendReason: served.selection.reason,
    executionProvider: engine.info.executionProvider,
    model: descriptor.name,
    weights: descriptor.weights,
    weightsSource: descriptor.weightsSource,
    input: `${descriptor.inputHeight}x${descriptor.inputWidth}x${descriptor.inputChannels}`,
    normalize: descriptor.normalize,
    classes: engine.numClasses,
    batching: serverInfo.batching,
    metricsPort: metricsServer?.port,
  });

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (graceMs = o.graceMs): Promise<void> => {
    shuttingDown ??= (async () => {
      health.setServing(false);
      log.info('shutting down: NOT_SERVING, no new calls, finishing in-flight work', { graceMs });
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all([drained, batcher.drain()]).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), Math.max(0, graceMs));
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        const st = batcher.stats();
        log.warn('grace period over: cancelling what is left', { queued: st.queued, inFlightBatches: st.inFlightBatches });
        batcher.abortQueued('server shut down before this request ran');
        server.forceShutdown();
      }
      await metricsServer?.close();
      // A batch may still be inside predict after a forced shutdown; wait for it before freeing the engine.
      await batcher.drain();
      await engine.dispose();
      log.info('stopped', { forced: timedOut });
    })();
    return shuttingDown;
  };

  return { port, host: boundHost, served, metricsPort: metricsServer?.port, startupMs, batcher, log, shutdown };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
