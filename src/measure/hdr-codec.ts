/**
 * A latency histogram as text, losslessly: the HdrHistogram V2 compressed encoding, base64 (the form
 * HdrHistogram's `encodeIntoCompressedByteBuffer` writes and every HdrHistogram library reads: Java, C, Go,
 * Python, Rust). `--json` carries it so runs from several machines can be added bucket by bucket
 * (report-merge.ts).
 *
 * Decoding reads input from other machines, so it is defensive: the layout in the header is checked
 * before the histogram is built (a crafted header could otherwise ask for a counts array of any size), and
 * every failure is an Error naming `what` was being read.
 */
import { inflateSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import { HDR_LAYOUT, LatencyHistogram, wrapHistogram } from './histogram';

export { encodeHdr } from './histogram';

/** V2 compressed: cookie 0x1c849304 with word-size bits in 0xf0; then the deflated V2 encoding. */
const COMPRESSED_COOKIE_BASE = 0x1c849304;
const ENCODING_COOKIE_BASE = 0x1c849303;
/** Our layout's largest possible payload is ~24 k buckets × ≤ 9 bytes; anything far beyond is not ours. */
const MAX_INFLATED_BYTES = 4 * 1024 * 1024;

interface Header {
  significantDigits: number;
  lowest: number;
  highest: number;
}

function header(b64: string): Header {
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw new Error('not base64');
  const raw = Buffer.from(b64, 'base64');
  if (raw.length < 8) throw new Error('too short for an HdrHistogram encoding');
  if ((raw.readInt32BE(0) & ~0xf0) !== COMPRESSED_COOKIE_BASE) throw new Error('not an HdrHistogram V2 compressed encoding (wrong cookie)');
  const len = raw.readInt32BE(4);
  if (len < 0 || len > raw.length - 8) throw new Error('compressed length runs past the end');
  let inner: Buffer;
  try {
    inner = inflateSync(raw.subarray(8, 8 + len), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (e) {
    throw new Error(`compressed contents unreadable (${(e as Error).message})`);
  }
  if (inner.length < 40) throw new Error('V2 header truncated');
  if ((inner.readInt32BE(0) & ~0xf0) !== ENCODING_COOKIE_BASE) throw new Error('not a V2 encoding inside (wrong cookie)');
  const payload = inner.readInt32BE(4);
  if (payload < 0 || payload > inner.length - 40) throw new Error('payload length runs past the end');
  return { significantDigits: inner.readInt32BE(12), lowest: Number(inner.readBigInt64BE(16)), highest: Number(inner.readBigInt64BE(24)) };
}

/**
 * Decodes a histogram written by encodeHdr (or by any HdrHistogram library with our layout: unit 1 µs,
 * HDR_LAYOUT's significant digits, highest trackable value no larger than ours).
 */
export function decodeHdr(b64: unknown, what: string): LatencyHistogram {
  if (typeof b64 !== 'string' || b64.length === 0) throw new Error(`${what}: no HdrHistogram (expected a base64 string)`);
  let h: Header;
  try {
    h = header(b64);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  if (h.lowest !== HDR_LAYOUT.lowestDiscernibleValue || h.significantDigits !== HDR_LAYOUT.numberOfSignificantValueDigits || !(h.highest > 0 && h.highest <= HDR_LAYOUT.highestTrackableValue)) {
    throw new Error(
      `${what}: histogram layout (lowest ${h.lowest}, ${h.significantDigits} significant digits, highest ${h.highest}) is not rtinfer's ` +
        `(lowest ${HDR_LAYOUT.lowestDiscernibleValue} µs, ${HDR_LAYOUT.numberOfSignificantValueDigits} digits, highest ≤ ${HDR_LAYOUT.highestTrackableValue}); its buckets would not add exactly`,
    );
  }
  let decoded: hdr.Histogram;
  try {
    decoded = hdr.decodeFromCompressedBase64(b64, 32, false, HDR_LAYOUT.highestTrackableValue);
  } catch (e) {
    throw new Error(`${what}: HdrHistogram payload unreadable (${(e as Error).message})`);
  }
  return wrapHistogram(decoded);
}
