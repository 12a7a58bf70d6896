/**
 * The gRPC-over-HTTP/2 rules both HTTP/2 transports here (transport.ts, node-http2.ts) follow, kept apart from the HTTP/2
 * framing: the length-prefixed message, the grpc-timeout header, and how a call's end (trailers, an HTTP
 * status, an RST_STREAM code) becomes a gRPC status. Status codes and messages are the ones grpc-js gives
 * for the same event (its subchannel-call.ts), so `ping` prints the same lines whichever transport ran it.
 * Spec: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md and doc/http-grpc-status-mapping.md.
 */
import { Status } from '../../shared/grpc-status';

export interface GrpcStatus {
  code: number;
  details: string;
}

/** HTTP status → gRPC status for a response without grpc-status (doc/http-grpc-status-mapping.md). */
export function statusFromHttp(httpStatus: number): GrpcStatus {
  const details = `Received HTTP status code ${httpStatus}`;
  switch (httpStatus) {
    case 400:
      return { code: Status.INTERNAL, details };
    case 401:
      return { code: Status.UNAUTHENTICATED, details };
    case 403:
      return { code: Status.PERMISSION_DENIED, details };
    case 404:
      return { code: Status.UNIMPLEMENTED, details };
    case 429:
    case 502:
    case 503:
    case 504:
      return { code: Status.UNAVAILABLE, details };
    default:
      return { code: Status.UNKNOWN, details };
  }
}

/** HTTP/2 error codes (RFC 9113 §7) that RST_STREAM carries. */
export const H2Error = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
} as const;

/** RST_STREAM from the server before a status arrived (grpc-js's mapping). */
export function statusFromReset(code: number, httpStatus: number | undefined): GrpcStatus {
  switch (code) {
    case H2Error.NO_ERROR:
      return httpStatus !== undefined && httpStatus !== 200
        ? statusFromHttp(httpStatus)
        : { code: Status.INTERNAL, details: `Received RST_STREAM with code ${code} (Call ended without gRPC status)` };
    case H2Error.REFUSED_STREAM:
      return { code: Status.UNAVAILABLE, details: 'Stream refused by server' };
    case H2Error.CANCEL:
      return { code: Status.CANCELLED, details: 'Call cancelled' };
    case H2Error.ENHANCE_YOUR_CALM:
      return { code: Status.RESOURCE_EXHAUSTED, details: 'Bandwidth exhausted or memory limit exceeded' };
    case H2Error.INADEQUATE_SECURITY:
      return { code: Status.PERMISSION_DENIED, details: 'Protocol not secure enough' };
    case H2Error.INTERNAL_ERROR:
      return { code: Status.INTERNAL, details: `Received RST_STREAM with code ${code} (Internal server error)` };
    default:
      return { code: Status.INTERNAL, details: `Received RST_STREAM with code ${code}` };
  }
}

/**
 * The status of a call whose stream ended normally: grpc-status/grpc-message when present (the message is
 * percent-encoded on the wire; grpc-js decodes it with decodeURI, and so do we), else the HTTP status
 * mapping, else UNKNOWN. A peer that answers without a gRPC content-type is named, so "this is not a gRPC
 * server" is visible in the message rather than left to guess from a 404.
 */
export function statusFromTrailers(grpcStatus: string | undefined, grpcMessage: string | undefined, httpStatus: number | undefined, contentType: string | undefined): GrpcStatus {
  if (grpcStatus !== undefined) {
    const code = Number(grpcStatus);
    let details = grpcMessage ?? '';
    try {
      details = decodeURI(details);
    } catch {
      // not valid percent-encoding: show it as sent
    }
    return Number.isInteger(code) && code >= 0 ? { code, details } : { code: Status.UNKNOWN, details: `invalid grpc-status "${grpcStatus}"` };
  }
  const base = httpStatus !== undefined && httpStatus !== 200 ? statusFromHttp(httpStatus) : { code: Status.UNKNOWN, details: 'No status information received' };
  if (contentType !== undefined && !contentType.startsWith('application/grpc')) base.details += ` (content-type "${contentType}": not a gRPC server)`;
  return base;
}

/**
 * grpc-timeout: at most 8 digits and a unit (spec). Milliseconds while they fit, then seconds, so the
 * server's deadline never exceeds ours; rounded up so it never fires before our local timer.
 */
export function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  if (m < 1e8) return `${m}m`;
  return `${Math.min(99_999_999, Math.ceil(m / 1000))}S`;
}

/** The 5-byte gRPC message prefix: uncompressed flag and big-endian length. */
export function writeMessagePrefix(buf: Buffer, offset: number, length: number): void {
  buf[offset] = 0;
  buf.writeUInt32BE(length, offset + 1);
}

/**
 * The single message of a unary response from its DATA payload. Returns a status instead when the body is
 * not exactly one uncompressed gRPC message (we advertise no grpc-accept-encoding, so a compressed one is
 * the server's error).
 */
export function unaryMessage(body: Buffer): Buffer | GrpcStatus {
  if (body.length < 5) return { code: Status.INTERNAL, details: body.length === 0 ? 'server sent OK without a response message' : `truncated gRPC message prefix (${body.length} bytes)` };
  if (body[0] !== 0) return { code: Status.INTERNAL, details: 'server sent a compressed message, but no compression was negotiated' };
  const len = body.readUInt32BE(1);
  if (len + 5 !== body.length) return { code: Status.INTERNAL, details: `gRPC message length ${len} does not match the ${body.length - 5} bytes received (a unary call carries one message)` };
  return body.subarray(5);
}
