/**
 * Prometheus metrics for the server (prom-client, on a registry of our own so tests and several servers in
 * one process never share counters) and the interceptor that counts every RPC. metrics-endpoint.ts serves
 * them over HTTP on a separate port.
 *
 * RPC-level metrics follow go-grpc-prometheus names (grpc_server_*) so existing dashboards work; per-request
 * stage timings mirror the proto's Timing message (seconds, as Prometheus expects).
 */
import * as grpc from '@grpc/grpc-js';
import { statusName } from '../shared/grpc-status';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Labels of the constant `inference_model_info` gauge. */
export interface MetricsInfo {
  model: string;
  backend: string;
  /** e.g. CPUExecutionProvider, tfjs-wasm (simd) */
  executionProvider?: string;
  /** "real" | "synthetic" */
  weights: string;
  inputSize?: number;
  /** Server package version. */
  version?: string;
}

/** Structural view of the proto `Timing` (bigint nanos from ts-proto; numbers accepted too). */
export interface StageTimings {
  queueNanos: bigint | number;
  decodeNanos: bigint | number;
  preprocessNanos: bigint | number;
  inferenceNanos: bigint | number;
  postprocessNanos: bigint | number;
  totalNanos: bigint | number;
  batchSize: number;
}

type RpcLabels = 'grpc_service' | 'grpc_method' | 'grpc_type';

export interface ServerMetrics {
  readonly registry: Registry;
  /** RPCs started, by service/method/type. */
  readonly started: Counter<RpcLabels>;
  /** RPCs finished, by service/method/type and status code name (OK, UNAUTHENTICATED, ...). */
  readonly handled: Counter<RpcLabels | 'grpc_code'>;
  /** Whole-RPC handling time (start → status), seconds. */
  readonly handlingSeconds: Histogram<RpcLabels>;
  readonly inFlight: Gauge<'grpc_method'>;
  /** Calls the client cancelled or whose deadline passed while the server was still working. */
  readonly cancelled: Counter<'grpc_method'>;
  readonly queueWaitSeconds: Histogram;
  readonly decodeSeconds: Histogram;
  readonly preprocessSeconds: Histogram;
  readonly engineSeconds: Histogram;
  readonly postprocessSeconds: Histogram;
  readonly totalSeconds: Histogram;
  readonly batchSize: Histogram;
  /** Images waiting in the batching queue, read at scrape time from the source set by setQueueDepthSource. */
  readonly queueDepth: Gauge;
  /** Requests removed from the queue without compute: reason="deadline" | "cancelled" | "queue_full". */
  readonly dropped: Counter<'reason'>;
  /** ClassifyStream frames answered, by per-frame status code name. */
  readonly streamFrames: Counter<'code'>;
  readonly info: Gauge<'model' | 'backend' | 'execution_provider' | 'weights' | 'input_size' | 'version'>;
  /** Records one Classify (unary or stream frame) timing breakdown. */
  observeTiming(t: StageTimings): void;
  setQueueDepthSource(read: () => number): void;
  /**
   * Exports `inference_engine_live_tensors` (tfjs `tf.memory().numTensors`, read at scrape time) when the
   * engine tracks tensors (tfjs backends); engines that do not (onnxruntime) get no such series rather than a
   * misleading 0. Lets operators and the soak test see a tensor leak from outside the process.
   */
  setLiveTensorsSource(read: () => number | undefined): void;
}

/** 0.5 ms … 10 s: a fast GPU batch is around a millisecond, a GoogLeNet on wasm under load several seconds. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

function seconds(nanos: bigint | number): number {
  return Number(nanos) / 1e9;
}

export function createMetrics(info: MetricsInfo): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rpc: RpcLabels[] = ['grpc_service', 'grpc_method', 'grpc_type'];
  const hist = (name: string, help: string): Histogram =>
    new Histogram({ name, help, buckets: LATENCY_BUCKETS_SECONDS, registers: [registry] });

  let readQueueDepth: () => number = () => 0;
  const m: ServerMetrics = {
    registry,
    started: new Counter({ name: 'grpc_server_started_total', help: 'RPCs started on the server.', labelNames: rpc, registers: [registry] }),
    handled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by gRPC status code.',
      labelNames: [...rpc, 'grpc_code'],
      registers: [registry],
    }),
    handlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from the start of an RPC to its status, in seconds (whole stream for streaming RPCs).',
      labelNames: rpc,
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'grpc_server_in_flight_calls', help: 'RPCs currently in progress.', labelNames: ['grpc_method'], registers: [registry] }),
    cancelled: new Counter({
      name: 'grpc_server_cancelled_total',
      help: 'RPCs cancelled by the client or by their deadline before the server sent a status.',
      labelNames: ['grpc_method'],
      registers: [registry],
    }),
    queueWaitSeconds: hist('inference_queue_wait_seconds', 'Time a request waited in the batching queue (admitted to batch start).'),
    decodeSeconds: hist('inference_decode_seconds', 'Image decode time (sharp); requests that sent a tensor decode nothing and are not counted.'),
    preprocessSeconds: hist('inference_preprocess_seconds', 'Resize and normalisation into the model input tensor.'),
    engineSeconds: hist('inference_engine_seconds', "Engine predict time of the batch a request ran in."),
    postprocessSeconds: hist('inference_postprocess_seconds', 'Top-k selection and response building.'),
    totalSeconds: hist('inference_request_seconds', 'Server receive to response ready, per image (the Timing.total of each response).'),
    batchSize: new Histogram({
      name: 'inference_batch_size',
      help: 'Images in the batch each request ran in (observed once per request).',
      buckets: BATCH_SIZE_BUCKETS,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'inference_queue_depth',
      help: 'Images waiting in the batching queue.',
      registers: [registry],
      collect() {
        this.set(readQueueDepth());
      },
    }),
    dropped: new Counter({
      name: 'inference_dropped_total',
      help: 'Requests removed from the batching queue without compute, by reason (deadline, cancelled, queue_full).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    streamFrames: new Counter({
      name: 'inference_stream_frames_total',
      help: 'ClassifyStream frames answered, by per-frame status code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    info: new Gauge({
      name: 'inference_model_info',
      help: 'Model and backend being served (value is always 1).',
      labelNames: ['model', 'backend', 'execution_provider', 'weights', 'input_size', 'version'],
      registers: [registry],
    }),
    observeTiming(t: StageTimings): void {
      m.queueWaitSeconds.observe(seconds(t.queueNanos));
      // decode_nanos is exactly 0 only for a tensor (nothing decoded): counting it would pull the decode
      // distribution towards 0 by the share of tensor requests.
      if (Number(t.decodeNanos) > 0) m.decodeSeconds.observe(seconds(t.decodeNanos));
      m.preprocessSeconds.observe(seconds(t.preprocessNanos));
      m.engineSeconds.observe(seconds(t.inferenceNanos));
      m.postprocessSeconds.observe(seconds(t.postprocessNanos));
      m.totalSeconds.observe(seconds(t.totalNanos));
      if (t.batchSize > 0) m.batchSize.observe(t.batchSize);
    },
    setQueueDepthSource(read: () => number): void {
      readQueueDepth = read;
    },
    setLiveTensorsSource(read: () => number | undefined): void {
      if (read() === undefined || registry.getSingleMetric('inference_engine_live_tensors')) return;
      new Gauge({
        name: 'inference_engine_live_tensors',
        help: 'Tensors alive in the inference engine (tfjs tf.memory().numTensors); flat when nothing leaks.',
        registers: [registry],
        collect() {
          this.set(read() ?? 0);
        },
      });
    },
  };
  m.info.set(
    {
      model: info.model,
      backend: info.backend,
      execution_provider: info.executionProvider ?? '',
      weights: info.weights,
      input_size: info.inputSize !== undefined ? String(info.inputSize) : '',
      version: info.version ?? '',
    },
    1,
  );
  // Zero-valued series exist from the start so rate() and alerts work before the first drop.
  for (const reason of ['deadline', 'cancelled', 'queue_full']) m.dropped.inc({ reason }, 0);
  return m;
}

function rpcType(d: grpc.ServerMethodDefinition<unknown, unknown>): string {
  if (d.requestStream) return d.responseStream ? 'bidi_stream' : 'client_stream';
  return d.responseStream ? 'server_stream' : 'unary';
}

function splitPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1], method: m[2] } : { service: 'unknown', method: path };
}

/**
 * Counts every RPC (started, handled by code, handling time, in flight, cancelled). List it BEFORE the auth
 * interceptor in `new Server({ interceptors: [metricsInterceptor(m), authInterceptor(...)] })` so rejected
 * calls are counted as UNAUTHENTICATED.
 */
export function metricsInterceptor(m: ServerMetrics): grpc.ServerInterceptor {
  return (methodDescriptor, call) => {
    const { service, method } = splitPath(methodDescriptor.path);
    const labels = { grpc_service: service, grpc_method: method, grpc_type: rpcType(methodDescriptor) };
    let startNs = 0n;
    let done = false;
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      m.inFlight.dec({ grpc_method: method });
      if (code === null) m.cancelled.inc({ grpc_method: method });
      else {
        m.handled.inc({ ...labels, grpc_code: statusName(code) });
        m.handlingSeconds.observe(labels, Number(process.hrtime.bigint() - startNs) / 1e9);
      }
    };
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        startNs = process.hrtime.bigint();
        m.started.inc(labels);
        m.inFlight.inc({ grpc_method: method });
        next(metadata);
      })
      .withOnCancel(() => {
        if (startNs !== 0n) finish(null);
      })
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        if (startNs !== 0n) finish(status.code ?? grpc.status.UNKNOWN);
        next(status);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
