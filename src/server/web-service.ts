/**
 * InferenceService on the web port: the Connect router's handlers call the very handler object the gRPC
 * port serves (service.ts, wrapped by app.ts's not-ready guard), so there is no second copy of any handler
 * logic. Each call is adapted in three thin steps:
 * - the request, parsed by Connect into its protobuf-es message, is encoded to bytes and decoded by the
 *   gRPC port's own request decoder (service.ts inferenceServiceDefinition), so the handler sees exactly
 *   the ts-proto value a gRPC call would give it;
 * - the handler gets the part of a grpc-js call it uses: `request`, `metadata` (the request's headers),
 *   `getDeadline()` (from the Connect
 *   timeout: `grpc-timeout` or `connect-timeout-ms`), `getPeer()` (the HTTP connection, the batcher's
 *   fair-share owner) and a `cancelled` event (the client went away);
 * - its callback's status becomes a ConnectError with the same code (Connect's codes are gRPC's numbers),
 *   its response is encoded by the gRPC port's serializer and parsed back into the protobuf-es message.
 * ClassifyStream is not offered here: a browser cannot client-stream over gRPC-web or Connect, so Connect
 * refuses it (UNIMPLEMENTED; over HTTP/1.1, HTTP 505). It stays on the gRPC port.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import type { InferenceServiceServer } from '../gen/inference/v1/inference';
import {
  ClassifyRequestSchema,
  ClassifyResponseSchema,
  GetServerInfoRequestSchema,
  GetServerInfoResponseSchema,
  InferenceService,
  PingRequestSchema,
  PingResponseSchema,
} from '../gen/inference/v1/inference_pb';
import { inferenceServiceDefinition } from './service';
import { PEER } from './web-interceptors';

type UnaryName = 'classify' | 'ping' | 'getServerInfo';

/** What a grpc-js unary handler's callback receives as its error. */
interface HandlerStatus {
  code?: number;
  details?: string;
  message?: string;
}
type UnaryHandler = (call: unknown, callback: (err: HandlerStatus | null, value?: unknown) => void) => void;
interface MethodCodec {
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: never): Buffer;
}

/**
 * The request's headers as gRPC metadata (gRPC-web and Connect carry a call's metadata as HTTP headers).
 * Binary (-bin) values arrive base64-encoded; a header grpc-js would refuse is left out.
 */
function metadataOf(headers: Headers): grpc.Metadata {
  const md = new grpc.Metadata();
  headers.forEach((value, key) => {
    try {
      if (key.endsWith('-bin')) md.add(key, Buffer.from(value, 'base64'));
      else md.add(key, value);
    } catch {
      // not a valid metadata key or value: grpc-js would not have delivered it either
    }
  });
  return md;
}

/** The members of a grpc-js ServerUnaryCall that service.ts's unary handlers read. */
function unaryCall(request: unknown, ctx: HandlerContext): EventEmitter & { request: unknown; metadata: grpc.Metadata; getDeadline(): number; getPeer(): string } {
  const timeoutMs = ctx.timeoutMs();
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  const peer = ctx.values.get(PEER);
  return Object.assign(new EventEmitter(), { request, metadata: metadataOf(ctx.requestHeader), getDeadline: () => deadline, getPeer: () => peer });
}

function unary<I extends DescMessage, O extends DescMessage>(handlers: InferenceServiceServer, name: UnaryName, input: I, output: O) {
  const handler = handlers[name] as unknown as UnaryHandler;
  const codec = inferenceServiceDefinition[name] as unknown as MethodCodec;
  return (req: MessageShape<I>, ctx: HandlerContext): Promise<MessageShape<O>> =>
    new Promise((resolve, reject) => {
      const call = unaryCall(codec.requestDeserialize(Buffer.from(toBinary(input, req))), ctx);
      const onAbort = (): void => void call.emit('cancelled');
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      handler(call, (err, value) => {
        ctx.signal.removeEventListener('abort', onAbort);
        if (err) reject(new ConnectError(err.details ?? err.message ?? 'error', (err.code ?? Code.Unknown) as Code));
        else resolve(fromBinary(output, codec.responseSerialize(value as never)));
      });
    });
}

/** The paths the web port serves RPCs on ("/inference.v1.InferenceService/Ping", …). */
export const WEB_METHOD_PATHS: ReadonlySet<string> = new Set(
  [InferenceService.method.classify, InferenceService.method.ping, InferenceService.method.getServerInfo].map((m) => `/${InferenceService.typeName}/${m.name}`),
);

/** Routes for connectNodeAdapter: InferenceService's unary methods, served by `handlers`. */
export function webRoutes(handlers: InferenceServiceServer): (router: ConnectRouter) => void {
  return (router) => {
    router.service(InferenceService, {
      classify: unary(handlers, 'classify', ClassifyRequestSchema, ClassifyResponseSchema),
      ping: unary(handlers, 'ping', PingRequestSchema, PingResponseSchema),
      getServerInfo: unary(handlers, 'getServerInfo', GetServerInfoRequestSchema, GetServerInfoResponseSchema),
    });
  };
}
