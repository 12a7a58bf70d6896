/**
 * A minimal real grpc-js server for the TLS/auth/metrics tests: the standard health service plus the
 * generated InferenceService with a real Ping handler (the other methods answer UNIMPLEMENTED). It lets those
 * tests exercise credentials and interceptors without loading a model.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, service as healthService } from 'grpc-health-check';
import {
  InferenceServiceClient,
  InferenceServiceService,
  PingRequest,
  PingResponse,
} from '../../src/gen/inference/v1/inference';

export const SERVICE_NAME = 'inference.v1.InferenceService';

export interface TinyServer {
  port: number;
  /** Ping handler invocations: proves rejected calls never reached the handler. */
  pings(): number;
  close(): Promise<void>;
}

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export async function startTinyServer(
  creds: grpc.ServerCredentials,
  interceptors: grpc.ServerInterceptor[] = [],
  host = '127.0.0.1',
): Promise<TinyServer> {
  const server = new grpc.Server({ interceptors });
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  let pings = 0;
  const unimplemented = (_call: unknown, cb: grpc.sendUnaryData<never>): void =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the tiny test server' });
  server.addService(InferenceServiceService, {
    ping(call: grpc.ServerUnaryCall<PingRequest, PingResponse>, cb: grpc.sendUnaryData<PingResponse>) {
      pings++;
      const receive = nowNanos();
      cb(null, {
        seq: call.request.seq,
        payload: call.request.echoPayload ? call.request.payload : Buffer.alloc(0),
        padding: Buffer.alloc(call.request.responseBytes),
        serverReceiveUnixNanos: receive,
        serverSendUnixNanos: nowNanos(),
        clientSendUnixNanos: call.request.clientSendUnixNanos,
        payloadBytesReceived: call.request.payload.length,
        sessionPingsReceived: 0n,
        sessionHighestSeq: 0n,
        serverId: 'tiny',
      });
    },
    classify: unimplemented,
    getServerInfo: unimplemented,
    classifyStream(call: grpc.ServerDuplexStream<unknown, unknown>) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not in the tiny test server' });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:0`, creds, (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    port,
    pings: () => pings,
    // Graceful first; a connection some client left open (a killed child's, a TLS handshake that never
    // finished) would keep tryShutdown waiting for ever, so it is cut after a bound.
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

export function pingRequest(seq: number): PingRequest {
  return PingRequest.fromPartial({ seq: BigInt(seq) });
}

/** Promise wrapper: resolves with the response or rejects with the grpc ServiceError. */
export function ping(
  client: InferenceServiceClient,
  seq: number,
  metadata = new grpc.Metadata(),
  deadlineMs = 5000,
): Promise<PingResponse> {
  return new Promise((resolve, reject) =>
    client.ping(pingRequest(seq), metadata, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r))),
  );
}

const HealthClient = grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, 'grpc.health.v1.Health');

/** grpc.health.v1.Health/Check; resolves with the status name (SERVING, ...). */
export function healthCheck(
  target: string,
  creds: grpc.ChannelCredentials,
  service = SERVICE_NAME,
  options: grpc.ChannelOptions = {},
): Promise<string> {
  const client = new HealthClient(target, creds, options);
  return new Promise<string>((resolve, reject) => {
    (client as unknown as {
      check(req: { service: string }, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void;
    }).check({ service }, { deadline: Date.now() + 5000 }, (e, r) => {
      client.close();
      if (e) reject(e);
      else resolve(r.status);
    });
  });
}

export { InferenceServiceClient };
