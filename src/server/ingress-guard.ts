/**
 * What a call may cost before any handler sees it: the first grpc-js server interceptor, closest to the
 * wire. grpc-js assembles each request message in memory before a handler (and so admission control) can
 * see it, and it decompresses compressed messages eagerly; so without this guard, clients that stall
 * mid-message or send gzip bombs hold server memory no limit counts. It enforces:
 *
 * - No compressed requests: a call whose grpc-encoding is not identity is refused with UNIMPLEMENTED before
 *   one byte is read (a few KB of gzip inflate to the max message size each). Images are already
 *   compressed, so compression buys nothing here.
 * - A server-wide budget of request bytes received and not yet handed to a handler (partial messages and
 *   complete ones grpc-js holds for a paused reader). A new call while the budget is spent, or a call whose
 *   bytes push it over, gets RESOURCE_EXHAUSTED and its stream is closed, which frees what it held.
 *
 * The web port draws on the same budget through `reserve`/`release` (web-ingress.ts): one budget, two doors.
 *
 * It reads two fields of grpc-js's BaseServerInterceptingCall (`stream`, `incomingEncoding`), which grpc-js
 * does not export as API: the first interceptor is handed that object. test/ingress-guard.test.ts fails if
 * an upgrade moves them; until then the guard logs an error once and lets calls through.
 * Why not a library or Node's maxSessionMemory: docs/decisions/0019-ingress-byte-budget.md.
 */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';

export interface IngressGuardOptions {
  /** Server-wide budget of request bytes received and not yet handed to a handler. */
  maxPendingBytes: number;
  /** Called when a call is refused (for logs and metrics). */
  onRefused?: (reason: 'compressed' | 'budget', method: string) => void;
  /** Called once if the grpc-js internals the guard reads are missing. */
  onUnsupported?: (what: string) => void;
}

export interface IngressGuard {
  interceptor: grpc.ServerInterceptor;
  /** Bytes received and not yet handed to a handler, over all calls. */
  pendingBytes(): number;
  /** Calls refused so far, by reason. */
  refused(): { compressed: number; budget: number };
  /**
   * Another door's share of the same budget (the web port, web-ingress.ts): takes `bytes` if they fit and
   * says so; false counts as a refusal for lack of budget.
   */
  reserve(bytes: number): boolean;
  /** Returns what reserve took. */
  release(bytes: number): void;
  /** The RESOURCE_EXHAUSTED text a refused call gets, with the current figures. */
  busyMessage(): string;
}

interface BaseCallInternals {
  stream?: http2.ServerHttp2Stream;
  incomingEncoding?: string;
}

/**
 * Splits a gRPC request byte stream into its length-prefixed messages (5-byte header: flag, uint32 length)
 * and remembers each complete message's wire size, in order.
 */
function createFrameCounter(): { push(chunk: Buffer): void; nextComplete(): number } {
  const header = Buffer.alloc(5);
  let headerHave = 0;
  let bodyLeft = -1;
  let bodySize = 0;
  const complete: number[] = [];
  return {
    push(chunk) {
      let i = 0;
      while (i < chunk.length) {
        if (bodyLeft < 0) {
          const n = Math.min(5 - headerHave, chunk.length - i);
          chunk.copy(header, headerHave, i, i + n);
          headerHave += n;
          i += n;
          if (headerHave === 5) {
            bodySize = header.readUInt32BE(1);
            bodyLeft = bodySize;
            headerHave = 0;
          }
        }
        if (bodyLeft >= 0) {
          const n = Math.min(bodyLeft, chunk.length - i);
          bodyLeft -= n;
          i += n;
          if (bodyLeft === 0) {
            complete.push(5 + bodySize);
            bodyLeft = -1;
          }
        }
      }
    },
    nextComplete: () => complete.shift() ?? 0,
  };
}

export function createIngressGuard(o: IngressGuardOptions): IngressGuard {
  let pending = 0;
  const refused = { compressed: 0, budget: 0 };
  let warned = false;
  const budgetMessage = (): string =>
    `server busy: ${mib(pending)} of requests received and not yet processed (--max-pending-bytes ${mib(o.maxPendingBytes)}); retry later`;

  const interceptor: grpc.ServerInterceptor = (method, call) => {
    const base = call as unknown as BaseCallInternals;
    const stream = base.stream;
    if (!stream || typeof stream.on !== 'function' || typeof base.incomingEncoding !== 'string') {
      if (!warned) {
        warned = true;
        o.onUnsupported?.('grpc-js BaseServerInterceptingCall has no stream/incomingEncoding: compression refusal and the byte budget are OFF');
      }
      return new grpc.ServerInterceptingCall(call);
    }
    const encoding = base.incomingEncoding;
    let mine = 0;
    let over = false;
    const frames = createFrameCounter();
    const settle = (n: number): void => {
      const d = Math.min(n, mine);
      mine -= d;
      pending -= d;
    };
    const refuse = (reason: 'compressed' | 'budget', s: { code: grpc.status; details: string }): void => {
      refused[reason]++;
      o.onRefused?.(reason, method.path);
      call.sendStatus(s);
      // The client may still be sending: reset the stream (NO_ERROR after a complete response, RFC 9113
      // §8.1) so nothing more is read for it and what it buffered is freed.
      setImmediate(() => {
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    };

    stream.on('data', (chunk: Buffer) => {
      if (over) return;
      mine += chunk.length;
      pending += chunk.length;
      frames.push(chunk);
      if (pending > o.maxPendingBytes) {
        over = true;
        refuse('budget', { code: grpc.status.RESOURCE_EXHAUSTED, details: budgetMessage() });
        settle(mine);
      }
    });
    stream.once('close', () => settle(mine));

    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        if (encoding !== 'identity') {
          refuse('compressed', {
            code: grpc.status.UNIMPLEMENTED,
            details: `compressed requests are not accepted (grpc-encoding ${encoding.slice(0, 32)}); send them uncompressed (images are compressed already)`,
          });
          return;
        }
        if (pending > o.maxPendingBytes) {
          over = true;
          refuse('budget', { code: grpc.status.RESOURCE_EXHAUSTED, details: budgetMessage() });
          return;
        }
        next(metadata);
      })
      .withOnReceiveMessage((message, next) => {
        settle(frames.nextComplete());
        next(message);
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };

  return {
    interceptor,
    pendingBytes: () => pending,
    refused: () => ({ ...refused }),
    reserve(bytes) {
      if (pending + bytes > o.maxPendingBytes) {
        refused.budget++;
        return false;
      }
      pending += bytes;
      return true;
    },
    release(bytes) {
      pending -= bytes;
    },
    busyMessage: budgetMessage,
  };
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
