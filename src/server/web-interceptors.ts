/**
 * The web port's auth and metrics, as Connect interceptors: the same decisions and the same counters as
 * the gRPC port's grpc-js interceptors (auth.ts, metrics.ts), so a call is refused, allowed and counted
 * alike whichever port it came in on. Pass them as `[webMetricsInterceptor, webAuthInterceptor]`: the first
 * is the outermost, so refused calls are counted as UNAUTHENTICATED, as on the gRPC port.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { statusName } from '../shared/grpc-status';
import { authFailure, isExempt, tokenDigests } from './auth';
import type { ServerMetrics } from './metrics';

/** "/inference.v1.InferenceService/Ping", the path grpc-js and --auth-exempt use. */
function pathOf(req: { service: { typeName: string }; method: { name: string } }): string {
  return `/${req.service.typeName}/${req.method.name}`;
}

export function webAuthInterceptor(o: { tokens: string[]; exemptMethods: string[] }): Interceptor {
  if (o.tokens.length === 0) throw new Error('webAuthInterceptor needs at least one token (leave it out to disable auth)');
  const digests = tokenDigests(o.tokens);
  const exempt = [...o.exemptMethods];
  return (next) => async (req) => {
    if (!isExempt(pathOf(req), exempt)) {
      const failure = authFailure(req.header.get('authorization') ?? undefined, digests);
      if (failure !== undefined) throw new ConnectError(failure, Code.Unauthenticated);
    }
    return next(req);
  };
}

/** Counts like metricsInterceptor: started, in flight, handled by status name, handling time, cancels. */
export function webMetricsInterceptor(m: ServerMetrics): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const labels = { grpc_service: service, grpc_method: method, grpc_type: req.stream ? 'bidi_stream' : 'unary' };
    const t0 = process.hrtime.bigint();
    m.started.inc(labels);
    m.inFlight.inc({ grpc_method: method });
    const finish = (code: number): void => {
      m.inFlight.dec({ grpc_method: method });
      m.handled.inc({ ...labels, grpc_code: statusName(code) });
      m.handlingSeconds.observe(labels, Number(process.hrtime.bigint() - t0) / 1e9);
    };
    try {
      const res = await next(req);
      finish(0);
      return res;
    } catch (err) {
      const code = ConnectError.from(err).code;
      if (code === Code.Canceled) {
        // The client went away: counted as the gRPC port counts a cancelled call.
        m.inFlight.dec({ grpc_method: method });
        m.cancelled.inc({ grpc_method: method });
      } else finish(code);
      throw err;
    }
  };
}
