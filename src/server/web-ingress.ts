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
 * Two more rules keep a client from holding the budget:
 * - With tokens (--tokens-file), a call to a non-exempt method without a valid one is refused at the door,
 *   UNAUTHENTICATED, before it reserves anything: connect-node would otherwise read its body before the auth
 *   interceptor runs, and a client without a token could hold the budget that the gRPC port shares (there,
 *   auth refuses a call on its headers).
 * - On HTTP/2 a request's body must arrive within the request timeout (as Node enforces on HTTP/1.1): a
 *   stream still sending then is reset (CANCEL) and its reservation returned.
 *
 * A request refused for either reason, or that does not fit, is answered at once, before its body is read,
 * in its own protocol's terms (gRPC and gRPC-web: a trailers-only response; Connect: HTTP 401 or 429 with a
 * JSON error).
 * Whatever of its body still comes is read and dropped, never kept: on HTTP/1.1 by Node once the response is
 * sent (closing instead would reset the connection under a client still sending, and it could lose the
 * answer; the request timeout bounds a body that never ends), on HTTP/2 by closing the stream.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { Code, createContextKey, type Interceptor } from '@connectrpc/connect';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';

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

/** The request's path without its query, at most 128 characters (for logs). */
export function pathOf(req: AnyRequest): string {
  return String(req.url ?? '').split('?')[0].slice(0, 128);
}

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

/** Why the door refused a request. */
export type DoorRefusal = Code.Unauthenticated | Code.ResourceExhausted;

/** The refusal in the request's protocol, before its body is read. */
export function refuseAtDoor(req: AnyRequest, res: AnyResponse, why: DoorRefusal, message: string): void {
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase().split(';')[0].trim();
  if (contentType.startsWith('application/grpc')) {
    // Trailers-only: the status in the headers, no body. gRPC-web clients read it there as gRPC clients do.
    const type = GRPC_CONTENT_TYPE.test(contentType)
      ? contentType
      : contentType.startsWith('application/grpc-web-text') ? 'application/grpc-web-text+proto'
        : contentType.startsWith('application/grpc-web') ? 'application/grpc-web+proto' : 'application/grpc+proto';
    (res as http.ServerResponse).writeHead(200, { 'content-type': type, 'grpc-status': String(why), 'grpc-message': encodeURIComponent(message) });
    res.end();
  } else {
    // The Connect protocol's unary error, with the HTTP status its spec gives the code.
    (res as http.ServerResponse).writeHead(codeToHttpStatus(why), { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: codeToString(why), message }));
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

export interface WebIngressOptions {
  maxMessageBytes: number;
  /** HTTP/2: how long a request's body may take to arrive once admitted. */
  requestTimeoutMs: number;
  /** The auth failure message for a request, undefined when it may pass (no tokens, exempt, or valid). */
  authFailure?: (req: AnyRequest) => string | undefined;
  /** Each refusal, with the request's path (for the log and metrics). */
  onRefused?: (path: string, why: DoorRefusal) => void;
}

export interface WebIngress {
  /** Admits the request and reserves its bytes; false when it was refused, and it has then been answered. */
  admit(req: AnyRequest, res: AnyResponse): boolean;
  /** For connect-node's contextValues: the request's release function. */
  releaseOf(req: AnyRequest): () => void;
  /** First in the interceptor chain: the message is decoded, so its bytes are no longer pending. */
  interceptor: Interceptor;
}

export function createWebIngress(budget: ByteBudget, o: WebIngressOptions): WebIngress {
  const releases = new WeakMap<AnyRequest, () => void>();
  const refuse = (req: AnyRequest, res: AnyResponse, why: DoorRefusal, message: string): false => {
    o.onRefused?.(pathOf(req), why);
    refuseAtDoor(req, res, why, message);
    return false;
  };
  return {
    admit(req, res) {
      const denied = o.authFailure?.(req);
      if (denied !== undefined) return refuse(req, res, Code.Unauthenticated, denied);
      const bytes = requestReservation(req.method, req.headers, o.maxMessageBytes);
      if (bytes === 0) return true;
      if (!budget.reserve(bytes)) return refuse(req, res, Code.ResourceExhausted, budget.busyMessage());
      let held = true;
      let timer: NodeJS.Timeout | undefined;
      const release = (): void => {
        if (!held) return;
        held = false;
        if (timer) clearTimeout(timer);
        budget.release(bytes);
      };
      if (req.httpVersionMajor >= 2) {
        const stream = (req as http2.Http2ServerRequest).stream;
        timer = setTimeout(() => {
          release();
          if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        }, o.requestTimeoutMs);
        timer.unref();
      }
      releases.set(req, release);
      // 'close' comes after the response is sent and when the client goes away first: either way nothing
      // more of this request is buffered.
      (res as http.ServerResponse).once('close', release);
      return true;
    },
    releaseOf: (req) => releases.get(req) ?? (() => undefined),
    // Runs once the message is decoded: its body has arrived, so the request timeout no longer applies.
    interceptor: (next) => (req) => {
      req.contextValues.get(INGRESS_RELEASE)();
      return next(req);
    },
  };
}
