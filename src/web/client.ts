/**
 * The page's InferenceService client: gRPC-web (connect-web) to the origin that served the page, with the
 * token field's value as `authorization: Bearer …` when it is set.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { InferenceService } from '../gen/inference/v1/inference_pb';
import { statusName } from '../shared/grpc-status';

export type InferenceClient = Client<typeof InferenceService>;

export function inferenceClient(baseUrl: string, token: () => string): InferenceClient {
  const auth: Interceptor = (next) => (req) => {
    const t = token().trim();
    if (t !== '') req.header.set('authorization', `Bearer ${t}`);
    return next(req);
  };
  return createClient(InferenceService, createGrpcWebTransport({ baseUrl, interceptors: [auth] }));
}

/** A failed call as rtinfer prints it: the gRPC status name and the server's message. */
export function describeFailure(err: unknown): { code: number; text: string } {
  const e = ConnectError.from(err);
  const code = e.code === undefined ? Code.Unknown : e.code;
  return { code, text: `${statusName(code)}: ${e.rawMessage}` };
}
