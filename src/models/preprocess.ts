/**
 * Encoded image bytes → model input. Two steps, split so the batcher can write straight into its batch
 * buffer without an intermediate float copy:
 *
 *   decodeImage(bytes)            sharp/libvips, off the JS thread: header check, decode, EXIF orientation,
 *                                 alpha flattened on white, any colour space → sRGB, resize → uint8 RGB
 *   normalizeInto(rgb, out, off)  uint8 RGB → float32 in the model's convention, written into `out` at `off`
 *
 * Choices (all documented in the README):
 * - Alpha is flattened onto WHITE rather than dropped: removeAlpha() would expose whatever RGB sits under
 *   transparent pixels (often black or garbage), while white is what a person sees on a page.
 * - Resize is `fill` by default (plain resize to the model input, aspect ratio not kept), which is how the
 *   TensorFlow.js MobileNet package and the seed feed ImageNet models; `crop` resizes the shorter side to the
 *   input size and takes the centre (the Inception/ResNet evaluation habit, without the 0.875 margin).
 *   Kernel: bilinear ("linear"), the kernel most ImageNet training pipelines resize with.
 * - Only raster formats a camera or browser produces are accepted (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF).
 *   SVG and the others libvips can read are refused from their first bytes (image-format.ts), before libvips
 *   parses anything: they are a large attack surface and not photos. 16-bit and float samples are refused
 *   (slow to decode, no gain at the model's 8-bit input).
 * - Animated / multi-page images: the first page only.
 * - failOn 'error': truncated or corrupt data fails the request instead of classifying a half-grey image;
 *   mere warnings (e.g. extraneous bytes after the JPEG end marker, common in phone photos) do not.
 */
import sharp from 'sharp';
import { sniffImageFormat } from './image-format';
import type { Normalize } from './model';
import { toModelInput, type ResizeMode } from '../shared/model-input';

export { RESIZE_MODES, type ResizeMode } from '../shared/model-input';

/**
 * An image the service cannot use (empty, not an image, truncated, too many pixels). Transport-neutral so
 * local mode and the server share this module; the server maps it to INVALID_ARGUMENT.
 */
export class ImageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageError';
  }
}

const invalidImage = (msg: string, cause?: unknown): ImageError => new ImageError(msg, { cause });

export interface DecodeOptions {
  width: number;
  height: number;
  /** Largest accepted width × height of the encoded image (per page), checked on the header before decoding. */
  maxInputPixels: number;
  /** Default 'fill'. */
  resize?: ResizeMode;
  /**
   * Decode budget per image, whole seconds (libvips' granularity); 0 = none. Default DEFAULT_DECODE_TIMEOUT_S.
   * An image inside the pixel limit can still be costly to decode (progressive scans, rotation of a large
   * image); past the budget the request fails instead of holding a decoder thread.
   */
  timeoutSeconds?: number;
}

export interface DecodedImage {
  /** width × height × 3 bytes, RGB, row-major (HWC). */
  rgb: Buffer;
  sourceWidth: number;
  sourceHeight: number;
  format: string;
  /**
   * Header parse + libvips' fused pipeline (decode, orientation, colour conversion and resize run as ONE
   * streaming pass inside libvips; JPEG even downscales while decoding). They cannot be timed apart without
   * giving up that fusion, so all of it is reported as decode.
   */
  decodeNanos: bigint;
}

/**
 * Default pixel limit: 50 Mpx per page. Covers 48 Mpx phone sensors (8000 × 6000) and 45 Mpx full-frame
 * cameras; decoding one costs ~150 MB of RGB at most, and the model sees 224² anyway.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;

/** Default decode budget: a 50 Mpx JPEG decodes and shrinks in well under a second on one core. */
export const DEFAULT_DECODE_TIMEOUT_S = 3;

/**
 * libvips threads per decode in the server. A 224² target from a photo-sized JPEG is too little work to split:
 * one thread decoded chelsea.jpg in 3.1 core-ms against 4.0 with two, and the decode gate already runs
 * several images at once (docs/decisions/0026-cpu-sharing-plan.md).
 */
export const DEFAULT_DECODE_THREADS = 1;

/** The libvips loaders left unblocked by configureSharp({ blockUnusedLoaders: true }): buffer input only. */
export const ACCEPTED_LOADERS: readonly string[] = [
  'VipsForeignLoadJpegBuffer',
  'VipsForeignLoadPngBuffer',
  'VipsForeignLoadWebpBuffer',
  'VipsForeignLoadNsgifBuffer',
  'VipsForeignLoadTiffBuffer',
  'VipsForeignLoadHeifBuffer',
];

/**
 * Keeps libvips' operation cache off: a server sees distinct images, so the cache only grows RSS.
 * blockUnusedLoaders (the server process, main.ts) blocks every libvips loader but those of the accepted
 * formats, process-wide, as a second wall behind the magic-byte check; it is not the default because the
 * client's reports rasterise SVG charts with sharp and tests run both in one process.
 */
export function configureSharp(o: { concurrency?: number; blockUnusedLoaders?: boolean } = {}): void {
  sharp.cache(false);
  if (o.concurrency !== undefined && o.concurrency > 0) sharp.concurrency(o.concurrency);
  if (o.blockUnusedLoaders) {
    sharp.block({ operation: ['VipsForeignLoad'] });
    sharp.unblock({ operation: [...ACCEPTED_LOADERS] });
  }
}

export async function decodeImage(bytes: Uint8Array, o: DecodeOptions): Promise<DecodedImage> {
  const t0 = process.hrtime.bigint();
  if (bytes.length === 0) throw invalidImage('image is empty (0 bytes)');
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.accepted) throw unsupported(sniffed.guess);

  // Header only: no pixel is decoded here, so a 30000×30000 "pixel bomb" costs microseconds.
  // The header read itself must not apply sharp's own limit, or we could not name the dimensions.
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
  } catch (err) {
    throw invalidImage(`image could not be read: ${sharpReason(err)}`, err);
  }
  const format = meta.format ?? 'unknown';
  // libvips picks its loader from the same first bytes; a disagreement means a crafted input.
  if (format !== sniffed.format) throw unsupported(format);
  if (meta.depth !== undefined && meta.depth !== 'uchar') {
    // 16-bit and float samples decode several times slower than 8-bit and add nothing at 224².
    throw invalidImage(`image has ${meta.depth} samples (${format}); send 8 bits per sample (JPEG, or PNG/TIFF saved as 8-bit)`);
  }
  const w = meta.width ?? 0;
  // For animated/multi-page images `height` may be the whole strip; pageHeight is one frame.
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w <= 0 || h <= 0) throw invalidImage(`image header declares no size (${w}×${h})`);
  if (w * h > o.maxInputPixels) {
    throw invalidImage(
      `image is ${w}×${h} = ${w * h} pixels, over the limit of ${o.maxInputPixels} pixels (--max-input-pixels)`,
    );
  }

  // The resize steps are shared with the client's --client-resize (src/shared/model-input.ts).
  const pipeline = toModelInput(
    sharp(bytes, { limitInputPixels: o.maxInputPixels, failOn: 'error', pages: 1, page: 0 }).timeout({ seconds: o.timeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_S }),
    o.width,
    o.height,
    o.resize ?? 'fill',
  );
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (/timeout/i.test(sharpReason(err))) {
      throw invalidImage(`image took over ${o.timeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_S} s to decode (${format} ${w}×${h}, the decode budget); send a smaller or simpler image`, err);
    }
    throw invalidImage(`image could not be decoded (${format} ${w}×${h}): ${sharpReason(err)}`, err);
  }
  const { info } = out;
  if (info.channels !== 3 || info.width !== o.width || info.height !== o.height) {
    // A libvips surprise (e.g. an exotic colour space); refuse rather than feed the model a wrong layout.
    throw invalidImage(
      `image decoded to ${info.width}×${info.height}×${info.channels}, expected ${o.width}×${o.height}×3`,
    );
  }
  return { rgb: out.data, sourceWidth: w, sourceHeight: h, format, decodeNanos: process.hrtime.bigint() - t0 };
}

function unsupported(name: string): ImageError {
  return invalidImage(`unsupported image format "${name}"; send JPEG, PNG, WebP, GIF, TIFF or AVIF`);
}

/** libvips messages are good but multi-line and prefixed; keep the first meaningful line. */
function sharpReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const line = msg.split('\n').find((l) => l.trim().length > 0) ?? msg;
  return line.trim();
}

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * Writes `rgb` (HWC uint8) into `out[offset …]` as float32 HWC in the model's convention:
 * signed = x/127.5 − 1, unit = x/255, none = x, caffe = BGR order minus the ImageNet channel means.
 * Returns the nanoseconds it took (reported as preprocess time).
 */
export function normalizeInto(rgb: Uint8Array, out: Float32Array, offset: number, normalize: Normalize): bigint {
  const t0 = process.hrtime.bigint();
  const n = rgb.length;
  if (offset + n > out.length) throw new RangeError(`normalizeInto: ${n} values at ${offset} overflow ${out.length}`);
  switch (normalize) {
    case 'signed':
      for (let i = 0; i < n; i++) out[offset + i] = rgb[i] / 127.5 - 1;
      break;
    case 'unit':
      for (let i = 0; i < n; i++) out[offset + i] = rgb[i] / 255;
      break;
    case 'none':
      for (let i = 0; i < n; i++) out[offset + i] = rgb[i];
      break;
    case 'caffe':
      for (let i = 0; i < n; i += 3) {
        out[offset + i] = rgb[i + 2] - CAFFE_MEAN_BGR[0];
        out[offset + i + 1] = rgb[i + 1] - CAFFE_MEAN_BGR[1];
        out[offset + i + 2] = rgb[i] - CAFFE_MEAN_BGR[2];
      }
      break;
    default: {
      const never: never = normalize;
      throw new Error(`unknown normalisation ${String(never)}`);
    }
  }
  return process.hrtime.bigint() - t0;
}
