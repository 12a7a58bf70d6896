/**
 * The web port's auth and metrics, as Connect interceptors: the same decisions and the same counters as
 * the gRPC port's grpc-js interceptors (auth.ts, metrics.ts), so a call is refused, allowed and counted
 * alike whichever port it came in on. Pass them as `[webMetricsInterceptor, webAuthInterceptor]`: the first
 * is the outermost, so refused calls are counted as UNAUTHENTICATED, as on the gRPC port.
 */
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import { statusName } from '../shared/grpc-status';
import { authFailure, createTokenSet, isExempt, type TokenSet } from './auth';
import type { ServerMetrics } from './metrics';

/** The HTTP connection a call came in on ("web:127.0.0.1:51234"): the batcher's fair-share owner. */
export const PEER = createContextKey<string>('web:unknown', { description: 'the client connection' });
/** The client certificate's identities (CN and subject alternative names); empty without mutual TLS. */
export const CLIENT_IDENTITIES = createContextKey<readonly string[]>([], { description: 'client certificate identities' });

/** "/inference.v1.InferenceService/Ping", the path grpc-js and --auth-exempt use. */
function pathOf(req: { service: { typeName: string }; method: { name: string } }): string {
  return `/${req.service.typeName}/${req.method.name}`;
}

/** `tokens`: the gRPC port's TokenSet, so a SIGHUP reload of --tokens-file applies to both ports at once. */
export function webAuthInterceptor(o: { tokens: string[] | TokenSet; exemptMethods: string[] }): Interceptor {
  if (Array.isArray(o.tokens) && o.tokens.length === 0) throw new Error('webAuthInterceptor needs at least one token (leave it out to disable auth)');
  const set = Array.isArray(o.tokens) ? createTokenSet(o.tokens) : o.tokens;
  const exempt = [...o.exemptMethods];
  return (next) => async (req) => {
    if (!isExempt(pathOf(req), exempt)) {
      const failure = authFailure(req.header.get('authorization') ?? undefined, set.digests);
      if (failure !== undefined) throw new ConnectError(failure, Code.Unauthenticated);
    }
    return next(req);
  };
}

/** --tls-allowed-client on the web port: the same rule as client-identity.ts, PERMISSION_DENIED otherwise. */
export function webClientIdentityInterceptor(allowed: readonly string[]): Interceptor {
  const ok = new Set(allowed);
  return (next) => async (req) => {
    const ids = req.contextValues.get(CLIENT_IDENTITIES);
    if (!ids.some((id) => ok.has(id))) {
      throw new ConnectError(
        ids.length === 0 ? 'no client certificate identity (--tls-allowed-client needs mutual TLS)' : `client certificate "${ids[0].slice(0, 128)}" is not allowed (--tls-allowed-client)`,
        Code.PermissionDenied,
      );
    }
    return next(req);
  };
}

/**
 * A call refused at the web port's door for want of a valid token (web-ingress.ts), before any interceptor
 * ran: counted as the gRPC port counts one its auth interceptor refuses. `path` must be one the port serves
 * (the method label's values stay bounded).
 */
export function countUnauthenticated(m: ServerMetrics, path: string): void {
  const [, service, method] = path.split('/');
  const labels = { grpc_service: service, grpc_method: method, grpc_type: 'unary' };
  m.started.inc(labels);
  m.handled.inc({ ...labels, grpc_code: statusName(Code.Unauthenticated) });
  m.handlingSeconds.observe(labels, 0);
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
