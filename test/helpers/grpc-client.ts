/** Test-side gRPC helpers for the server tests (promisified calls on the generated client). */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import {
  ClassifyRequest,
  ClassifyResponse,
  type GetServerInfoResponse,
  InferenceServiceClient,
  type PingRequest,
  type PingResponse,
} from '../../src/gen/inference/v1/inference';

export type Client = InstanceType<typeof InferenceServiceClient>;

export function connect(target: string, options: grpc.ChannelOptions = {}): Client {
  return new InferenceServiceClient(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...options,
  });
}

export function classify(c: Client, req: Partial<ClassifyRequest>, deadlineMs = 30_000): Promise<ClassifyResponse> {
  return new Promise((resolve, reject) =>
    c.classify(ClassifyRequest.fromPartial(req), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

export function ping(c: Client, req: Partial<PingRequest>): Promise<PingResponse> {
  const full: PingRequest = { seq: 0n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n, ...req };
  return new Promise((resolve, reject) => c.ping(full, (err, res) => (err ? reject(err) : resolve(res))));
}

export function serverInfo(c: Client): Promise<GetServerInfoResponse> {
  return new Promise((resolve, reject) => c.getServerInfo({}, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Awaits a call expected to fail and resolves to its gRPC error; fails when the call succeeds. */
export async function statusOf(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Calls a unary method with raw request bytes (to send what no generated client would). */
export function rawUnary(target: string, method: string, bytes: Buffer): Promise<Buffer> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as Buffer);
      },
    );
  });
}

/**
 * One unary call over plain HTTP/2 carrying `grpc-timeout`, from a client that never cancels at its deadline
 * (a grpc-js client resets the stream when its own timer fires, which can beat the server's timer by the
 * header's transit time). The server's deadline alone ends the call; resolves to the grpc-status it sent.
 */
export function unaryWithServerDeadline(target: string, method: string, message: Buffer, timeout: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const session = http2.connect(`http://${target}`);
    session.on('error', reject);
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const req = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout });
    let code: number | undefined;
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) code = Number(h['grpc-status']);
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => undefined);
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      if (code === undefined) reject(new Error(`${method}: stream closed without a grpc-status`));
      else resolve(code);
    });
    req.end(frame);
  });
}

/** Sends raw frames on one ClassifyStream (to send what no generated client would), then half-closes; resolves to every response, in order. */
export async function rawClassifyStream(target: string, frames: Buffer[]): Promise<ClassifyResponse[]> {
  const raw = new grpc.Client(target, grpc.credentials.createInsecure());
  try {
    const call = raw.makeBidiStreamRequest('/inference.v1.InferenceService/ClassifyStream', (b: Buffer) => b, (b: Buffer) => b);
    const got: ClassifyResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (b: Buffer) => got.push(ClassifyResponse.decode(b)));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (const f of frames) call.write(f);
    call.end();
    await done;
    return got;
  } finally {
    raw.close();
  }
}

export function healthCheck(target: string, service = ''): Promise<string> {
  // grpc.health.v1.HealthCheckRequest { string service = 1 } / HealthCheckResponse { ServingStatus status = 1 }
  const svc = Buffer.from(service, 'utf8');
  const req = svc.length ? Buffer.concat([Buffer.from([0x0a, svc.length]), svc]) : Buffer.alloc(0);
  return rawUnary(target, '/grpc.health.v1.Health/Check', req).then((b) => {
    const v = b.length >= 2 && b[0] === 0x08 ? b[1] : 0;
    return ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][v] ?? `status ${v}`;
  });
}

/** GET /metrics from the server's Prometheus port on loopback; rejects on a non-200 answer. */
export function scrapeMetrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}
