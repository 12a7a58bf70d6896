/**
 * --client-resize: the client does the server's resize, once per distinct image before the run, and sends
 * what it made — a JPEG of the model's input size (--send jpeg) or the raw uint8 RGB tensor (--send tensor,
 * ClassifyRequest.tensor) — so a run shows what moving that work off the server costs in bytes up and saves
 * in server CPU. The resize is the server's default `fill` (src/shared/model-input.ts), so a tensor holds the
 * pixels the server would have made from the image itself. None of it is inside the measured loop: the load
 * generator must not add its own CPU per call. Measurements: docs/decisions/0023-tensor-input-and-client-resize.md.
 */
import sharp from 'sharp';
import type { LoadedImage } from '../shared/images';
import { tensorBytes, TENSOR_CHANNELS, toModelInput } from '../shared/model-input';
import { UsageError } from '../shared/flag-checks';
import type { RequestPayload } from '../measure/request-payload';
import { classifyRequestBytes } from './issuers';

export type SendChoice = 'jpeg' | 'tensor';
export const SEND_CHOICES: readonly SendChoice[] = ['jpeg', 'tensor'];

/** Quality of a client-resized JPEG: as the generated noise images (shared/images.ts), sharp's 4:2:0 chroma. */
export const CLIENT_JPEG_QUALITY = 90;

/** Room a ClassifyRequest needs beside its pixels (field tags, top_k, a request_id) under the max message size. */
const REQUEST_OVERHEAD_BYTES = 256;

/** The flags as yargs spells them. */
export interface ClientResizeArgs {
  'client-resize'?: boolean;
  send?: SendChoice;
}

/**
 * The --send choice, or undefined without --client-resize. --send alone is a usage error rather than an
 * implied --client-resize: the flag that makes the client do the server's work is spelled out.
 */
export function sendChoiceOf(a: ClientResizeArgs): SendChoice | undefined {
  if (!a['client-resize']) {
    if (a.send !== undefined) throw new UsageError(`--send ${a.send} goes with --client-resize (the client resizes each image to the model's input, then sends it as --send says); without it images are sent as they are`);
    return undefined;
  }
  return a.send ?? 'jpeg';
}

/** The model's input size from GetServerInfo (as JSON), or why it is not known. */
export function modelInputOf(server: Record<string, unknown> | undefined): { width: number; height: number; maxMessageBytes?: number } {
  if (!server) throw new Error('--client-resize needs the model\'s input size, and the server did not answer GetServerInfo');
  const m = (server.model ?? {}) as { inputWidth?: unknown; inputHeight?: unknown };
  const width = Number(m.inputWidth);
  const height = Number(m.inputHeight);
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new Error('--client-resize needs the model\'s input size, and GetServerInfo did not say it (model.input_width/input_height)');
  const max = Number(server.maxMessageBytes);
  return { width, height, maxMessageBytes: Number.isFinite(max) && max > 0 ? max : undefined };
}

/** `im` resized as the server would, as raw uint8 RGB HWC (exactly width × height × 3 bytes). */
async function resizedRgb(im: LoadedImage, width: number, height: number): Promise<Buffer> {
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await toModelInput(sharp(im.bytes, { pages: 1, page: 0, failOn: 'error' }), width, height).raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`--client-resize: cannot resize ${im.name}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (out.info.width !== width || out.info.height !== height || out.info.channels !== TENSOR_CHANNELS) {
    throw new Error(`--client-resize: ${im.name} resized to ${out.info.width}×${out.info.height}×${out.info.channels}, not ${width}×${height}×${TENSOR_CHANNELS}`);
  }
  return out.data;
}

export interface Prepared {
  images: LoadedImage[];
  request: RequestPayload;
}

/**
 * What the run sends: `images` as they are (`send` undefined), or each resized once to the model's input
 * (`server`'s GetServerInfo) and sent as `send` says; `request` says which, with the bytes per call and the
 * time the preparation took.
 */
export async function prepareImages(images: LoadedImage[], send: SendChoice | undefined, server: Record<string, unknown> | undefined, topK: number): Promise<Prepared> {
  const mean = (xs: LoadedImage[], f: (im: LoadedImage) => number): number => (xs.length === 0 ? 0 : xs.reduce((s, im) => s + f(im), 0) / xs.length);
  if (send === undefined) return { images, request: { sent: 'image', bytes_per_request: mean(images, (im) => classifyRequestBytes(im, topK)) } };
  const { width, height, maxMessageBytes } = modelInputOf(server);
  if (send === 'tensor' && maxMessageBytes !== undefined && tensorBytes(width, height) + REQUEST_OVERHEAD_BYTES > maxMessageBytes) {
    throw new Error(`--send tensor: a ${width}×${height}×3 tensor is ${tensorBytes(width, height)} bytes, more than the server's largest message (${maxMessageBytes} bytes, its --max-message-bytes); use --send jpeg`);
  }
  const t0 = process.hrtime.bigint();
  const out: LoadedImage[] = [];
  for (const im of images) {
    const rgb = await resizedRgb(im, width, height);
    if (send === 'tensor') out.push({ name: im.name, bytes: rgb, field: 'tensor' });
    else out.push({ name: im.name, bytes: await sharp(rgb, { raw: { width, height, channels: TENSOR_CHANNELS } }).jpeg({ quality: CLIENT_JPEG_QUALITY }).toBuffer() });
  }
  const prepareMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    images: out,
    request: {
      sent: send,
      bytes_per_request: mean(out, (im) => classifyRequestBytes(im, topK)),
      client_resize: { width, height, images: out.length, prepare_ms: prepareMs, source_bytes_per_image: mean(images, (im) => im.bytes.length) },
    },
  };
}
