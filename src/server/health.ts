/**
 * grpc.health.v1 (the standard health protocol, as its spec describes it): the overall server ("") and the
 * inference service report NOT_SERVING until the model is warm, SERVING after, and NOT_SERVING again once
 * shutdown begins, so load balancers and `grpc_health_probe` drain traffic before the listener closes.
 *
 * Our own implementation rather than grpc-health-check's, because health is callable without a token and
 * that one keeps a map entry for every service name ever watched, forever (docs/SECURITY.md). Here:
 * - state exists for the two names above only; `Check` of any other name → NOT_FOUND, `Watch` of one → a
 *   SERVICE_UNKNOWN update (and the stream stays open, as the spec says, holding nothing but itself);
 * - a name over MAX_SERVICE_NAME_BYTES → INVALID_ARGUMENT (read from the wire without decoding it);
 * - at most MAX_WATCH_STREAMS Watch streams at once → beyond, RESOURCE_EXHAUSTED;
 * - close() (shutdown) sends NOT_SERVING and ends every Watch stream, so an idle watcher never holds a
 *   graceful shutdown for its whole grace period.
 */
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export const INFERENCE_SERVICE_NAME = 'inference.v1.InferenceService';
const SERVICES: readonly string[] = ['', INFERENCE_SERVICE_NAME];

/** Longer than any real service name (fully qualified proto names are well under 100 bytes). */
export const MAX_SERVICE_NAME_BYTES = 256;
/** Probes poll Check; a few watchers per load balancer is the norm. */
export const MAX_WATCH_STREAMS = 100;

/** HealthCheckResponse.ServingStatus. */
export const enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

export interface Health {
  setServing(serving: boolean): void;
  /** Whether `service` (default "", the whole server) is SERVING; the readiness endpoint mirrors "". */
  isServing(service?: string): boolean;
  addToServer(server: grpc.Server): void;
  /** Ends every Watch stream (after a last NOT_SERVING) and refuses new ones: shutdown. */
  close(): void;
  /** Watch streams open now. */
  watchers(): number;
}

/** A decoded HealthCheckRequest; `tooLong` set instead of `service` when the name is over the limit. */
interface HealthRequest {
  service: string;
  tooLong?: number;
  invalid?: string;
}

export function decodeHealthRequest(bytes: Buffer): HealthRequest {
  const out: HealthRequest = { service: '' };
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.LengthDelimited) {
        const start = r.pos;
        const n = r.uint32();
        if (n > MAX_SERVICE_NAME_BYTES) {
          out.tooLong = n;
          return out;
        }
        r.pos = start;
        out.service = r.string();
      } else r.skip(wire, field);
    }
  } catch (err) {
    out.invalid = err instanceof Error ? err.message : String(err);
  }
  return out;
}

export function encodeHealthResponse(status: ServingStatus): Buffer {
  const w = new BinaryWriter();
  if (status !== ServingStatus.UNKNOWN) w.uint32(8).int32(status);
  return Buffer.from(w.finish());
}

const definition: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: decodeHealthRequest,
    responseSerialize: encodeHealthResponse,
    responseDeserialize: () => ServingStatus.UNKNOWN,
  },
  Watch: {
    path: '/grpc.health.v1.Health/Watch',
    requestStream: false,
    responseStream: true,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: decodeHealthRequest,
    responseSerialize: encodeHealthResponse,
    responseDeserialize: () => ServingStatus.UNKNOWN,
  },
};

/** Why a request names no service we can answer for, as a gRPC status; undefined when it is fine. */
function refusal(req: HealthRequest): grpc.StatusObject | undefined {
  const metadata = new grpc.Metadata();
  if (req.invalid !== undefined) return { code: grpc.status.INVALID_ARGUMENT, details: `not a valid grpc.health.v1.HealthCheckRequest: ${req.invalid}`, metadata };
  if (req.tooLong !== undefined) {
    return { code: grpc.status.INVALID_ARGUMENT, details: `service name is ${req.tooLong} bytes, over the limit of ${MAX_SERVICE_NAME_BYTES}`, metadata };
  }
  return undefined;
}

export function createHealth(): Health {
  let serving = false;
  let closed = false;
  const watches = new Set<{ call: grpc.ServerWritableStream<HealthRequest, ServingStatus>; last: ServingStatus }>();
  const statusOf = (service: string): ServingStatus =>
    !SERVICES.includes(service) ? ServingStatus.SERVICE_UNKNOWN : serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;

  const check: grpc.handleUnaryCall<HealthRequest, ServingStatus> = (call, callback) => {
    const bad = refusal(call.request);
    if (bad) return callback(bad);
    const s = statusOf(call.request.service);
    if (s === ServingStatus.SERVICE_UNKNOWN) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
    callback(null, s);
  };

  const watch: grpc.handleServerStreamingCall<HealthRequest, ServingStatus> = (call) => {
    const bad = refusal(call.request);
    if (bad) return void call.emit('error', bad);
    if (closed) return void call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server is shutting down', metadata: new grpc.Metadata() });
    if (watches.size >= MAX_WATCH_STREAMS) {
      return void call.emit('error', {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `too many health Watch streams (${MAX_WATCH_STREAMS}); poll Check instead`,
        metadata: new grpc.Metadata(),
      });
    }
    const w = { call, last: statusOf(call.request.service) };
    watches.add(w);
    call.on('cancelled', () => watches.delete(w));
    call.write(w.last);
  };

  const notify = (): void => {
    for (const w of watches) {
      const s = statusOf(w.call.request.service);
      if (s === w.last) continue;
      w.last = s;
      w.call.write(s);
    }
  };

  return {
    setServing(on) {
      serving = on;
      notify();
    },
    isServing: (service = '') => statusOf(service) === ServingStatus.SERVING,
    addToServer(server) {
      server.addService(definition, { Check: check, Watch: watch });
    },
    close() {
      closed = true;
      serving = false;
      notify();
      for (const w of watches) w.call.end();
      watches.clear();
    },
    watchers: () => watches.size,
  };
}
