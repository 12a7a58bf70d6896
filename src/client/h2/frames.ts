/**
 * HTTP/2 framing (RFC 9113 §4, §6) for our unary gRPC client: frame types, flags, settings, and builders
 * for the few control frames the client sends. Parsing lives in connection.ts, where each frame is
 * handled as it is cut from the socket's bytes.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** Every endpoint must accept frames up to this size; larger only after the peer's SETTINGS says so. */
export const DEFAULT_MAX_FRAME = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export const Frame = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export function writeFrameHeader(buf: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  buf[offset] = (length >>> 16) & 0xff;
  buf[offset + 1] = (length >>> 8) & 0xff;
  buf[offset + 2] = length & 0xff;
  buf[offset + 3] = type;
  buf[offset + 4] = flags;
  buf.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  writeFrameHeader(b, 0, payload.length, type, flags, streamId);
  payload.copy(b, FRAME_HEADER);
  return b;
}

export function settingsFrame(settings: Array<[number, number]>): Buffer {
  const p = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(Frame.SETTINGS, 0, 0, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(increment & 0x7fffffff, 0);
  return frame(Frame.WINDOW_UPDATE, 0, streamId, p);
}

export function rstStreamFrame(streamId: number, errorCode: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(errorCode, 0);
  return frame(Frame.RST_STREAM, 0, streamId, p);
}

export function goawayFrame(lastStreamId: number, errorCode: number, debug = ''): Buffer {
  const d = Buffer.from(debug, 'utf8');
  const p = Buffer.allocUnsafe(8 + d.length);
  p.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(errorCode, 4);
  d.copy(p, 8);
  return frame(Frame.GOAWAY, 0, 0, p);
}

const ERROR_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];
export const h2ErrorName = (code: number): string => ERROR_NAMES[code] ?? `error code ${code}`;
