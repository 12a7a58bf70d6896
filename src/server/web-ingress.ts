/**
 * The web port's share of `--max-pending-bytes`, the budget of request bytes received and not yet handed to a
 * handler that the gRPC port's ingress guard keeps (ingress-guard.ts): one budget for both doors.
 *
 * connect-node reads a unary request whole before any interceptor or handler runs and offers no hook per
 * chunk, so the web door cannot count bytes as they arrive. It reserves instead, before one byte of the body
 * is read, what the request may come to hold: its declared `content-length`, or, when it declares none, the
 * most a request can be (the message limit with its framing). The reservation goes back when the first
 * interceptor sees the decoded message, or when the exchange ends, whichever is first.
 * Why reserve rather than count: docs/decisions/0030-web-port-byte-budget-and-connection-limits.md.
 *
 * A request that does not fit is answered at once, before its body is read, with RESOURCE_EXHAUSTED in its
 * own protocol's terms (gRPC and gRPC-web: a trailers-only response; Connect: HTTP 429 with a JSON error).
 * Whatever of its body still comes is read and dropped, never kept: on HTTP/1.1 by Node once the response is
 * sent (closing instead would reset the connection under a client still sending, and it could lose the
 * answer; the request timeout bounds a body that never ends), on HTTP/2 by closing the stream.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { createContextKey, type Interceptor } from '@connectrpc/connect';

/** What the web door needs of the server-wide budget (the gRPC port's IngressGuard has it). */
export interface ByteBudget {
  reserve(bytes: number): boolean;
  release(bytes: number): void;
  busyMessage(): string;
}

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Returns the request's reservation; a no-op when it has none or gave it back already. */
export const INGRESS_RELEASE = createContextKey<() => void>(() => undefined, { description: 'returns the request’s byte reservation' });

/** gRPC-web's text mode carries the message in base64: 4 bytes on the wire for every 3. */
function isGrpcWebText(contentType: string): boolean {
  return contentType.startsWith('application/grpc-web-text');
}

/**
 * The bytes a request may hold before its handler sees it: none for methods without a body, the declared
 * length when there is one (capped at the largest acceptable request, which connect-node refuses beyond),
 * otherwise that largest request.
 */
export function requestReservation(method: string | undefined, headers: http.IncomingHttpHeaders, maxMessageBytes: number): number {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 0;
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  // 5 bytes of gRPC framing per message, and room for a gRPC-web trailer frame a client may append.
  const framed = maxMessageBytes + 64;
  const largest = isGrpcWebText(contentType) ? Math.ceil((framed * 4) / 3) : framed;
  const declared = headers['content-length'];
  if (typeof declared === 'string' && /^\d{1,15}$/.test(declared)) return Math.min(Number(declared), largest);
  return largest;
}

const GRPC_CONTENT_TYPE = /^application\/grpc(-web(-text)?)?(\+(proto|json))?$/;

/** RESOURCE_EXHAUSTED in the request's protocol, before its body is read. */
export function refuseBusy(req: AnyRequest, res: AnyResponse, message: string): void {
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase().split(';')[0].trim();
  if (contentType.startsWith('application/grpc')) {
    // Trailers-only: the status in the headers, no body. gRPC-web clients read it there as gRPC clients do.
    const type = GRPC_CONTENT_TYPE.test(contentType)
      ? contentType
      : contentType.startsWith('application/grpc-web-text') ? 'application/grpc-web-text+proto'
        : contentType.startsWith('application/grpc-web') ? 'application/grpc-web+proto' : 'application/grpc+proto';
    (res as http.ServerResponse).writeHead(200, { 'content-type': type, 'grpc-status': '8', 'grpc-message': encodeURIComponent(message) });
    res.end();
  } else {
    // The Connect protocol's unary error: resource_exhausted is HTTP 429.
    (res as http.ServerResponse).writeHead(429, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'resource_exhausted', message }));
  }
  if (req.httpVersionMajor >= 2) {
    // The client may still be sending: close the stream (NO_ERROR after a complete response, RFC 9113
    // §8.1) so nothing more is read for it.
    const stream = (req as http2.Http2ServerRequest).stream;
    setImmediate(() => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
  }
}

export interface WebIngress {
  /**
   * Reserves the request's bytes; false when they do not fit, and the request has then been answered.
   * `onRefused` hears of each refusal (for the log).
   */
  admit(req: AnyRequest, res: AnyResponse): boolean;
  /** For connect-node's contextValues: the request's release function. */
  releaseOf(req: AnyRequest): () => void;
  /** First in the interceptor chain: the message is decoded, so its bytes are no longer pending. */
  interceptor: Interceptor;
}

export function createWebIngress(budget: ByteBudget, maxMessageBytes: number, onRefused?: (path: string) => void): WebIngress {
  const releases = new WeakMap<AnyRequest, () => void>();
  return {
    admit(req, res) {
      const bytes = requestReservation(req.method, req.headers, maxMessageBytes);
      if (bytes === 0) return true;
      if (!budget.reserve(bytes)) {
        onRefused?.(String(req.url ?? '').slice(0, 128));
        refuseBusy(req, res, budget.busyMessage());
        return false;
      }
      let held = true;
      const release = (): void => {
        if (!held) return;
        held = false;
        budget.release(bytes);
      };
      releases.set(req, release);
      // 'close' comes after the response is sent and when the client goes away first: either way nothing
      // more of this request is buffered.
      (res as http.ServerResponse).once('close', release);
      return true;
    },
    releaseOf: (req) => releases.get(req) ?? (() => undefined),
    interceptor: (next) => (req) => {
      req.contextValues.get(INGRESS_RELEASE)();
      return next(req);
    },
  };
}
