/**
 * The web port's auth and metrics: the same decisions and the same counters as the gRPC port's grpc-js
 * interceptors (auth.ts, metrics.ts), so a call is refused, allowed and counted alike whichever port it came
 * in on. The token check runs at the door (webAuthFailure), a refusal there is counted with
 * countUnauthenticated; the client-certificate check and the metrics are Connect interceptors.
 */
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import { statusName } from '../shared/grpc-status';
import { authFailure, isExempt, type TokenSet } from './auth';
import type { ServerMetrics } from './metrics';

/** The HTTP connection a call came in on ("web:127.0.0.1:51234"): the batcher's fair-share owner. */
export const PEER = createContextKey<string>('web:unknown', { description: 'the client connection' });
/** The client certificate's identities (CN and subject alternative names); empty without mutual TLS. */
export const CLIENT_IDENTITIES = createContextKey<readonly string[]>([], { description: 'client certificate identities' });

/**
 * The web port's token check, made at its door (web-ingress.ts) before a request reserves any of the byte
 * budget or has its body read: the message of the auth failure, undefined when the request may pass. Only
 * `rpcPaths`, the paths the port routes (connect-node matches the path before the query exactly, as the
 * caller must), need a token; the page's files do not, and an unknown path gets its 404. `tokens` is the gRPC port's TokenSet, so
 * a SIGHUP reload of --tokens-file applies to both ports at once.
 */
export function webAuthFailure(o: { tokens: TokenSet; exemptMethods: readonly string[]; rpcPaths: ReadonlySet<string> }): (path: string, authorization: string | undefined) => string | undefined {
  const exempt = [...o.exemptMethods];
  return (path, authorization) => {
    if (!o.rpcPaths.has(path) || isExempt(path, exempt)) return undefined;
    return authFailure(authorization, o.tokens.digests);
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
