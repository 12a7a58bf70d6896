/**
 * Images for classify/bench/stream: files given on the command line (directories are scanned one level
 * for image extensions), or generated noise JPEGs of a chosen size — random pixels defeat any caching and
 * compress poorly, so they are a fair worst case for bytes on the wire and decode time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from './prng';

export interface LoadedImage {
  name: string;
  bytes: Buffer;
  /**
   * The ClassifyRequest field that carries `bytes`: `image` (encoded, the default) or `tensor` (raw uint8 RGB
   * HWC of the model's input size, made by the client's --client-resize).
   */
  field?: 'image' | 'tensor';
}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

export function loadImages(paths: string[]): LoadedImage[] {
  const out: LoadedImage[] = [];
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new Error(`image path not found: ${p}`);
    }
    if (st.isDirectory()) {
      const files = fs.readdirSync(p).filter((f) => IMAGE_EXT.test(f)).sort();
      if (files.length === 0) throw new Error(`no image files (${IMAGE_EXT.source}) in directory ${p}`);
      for (const f of files) out.push({ name: f, bytes: fs.readFileSync(path.join(p, f)) });
    } else out.push({ name: path.basename(p), bytes: fs.readFileSync(p) });
  }
  return out;
}

/** "640x480" → [640, 480]. */
export function parseSize(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/i.exec(s.trim());
  if (!m) throw new Error(`--image-size must look like 640x480, got "${s}"`);
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w < 1 || h < 1 || w * h > 50_000_000) throw new Error(`--image-size ${s} out of range (1..50 megapixels)`);
  return [w, h];
}

/** `n` distinct noise JPEGs (quality 90), deterministic from the seed. */
export async function generateImages(width: number, height: number, n = 4, seed = 1): Promise<LoadedImage[]> {
  const rnd = mulberry32(seed);
  const out: LoadedImage[] = [];
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(width * height * 3);
    for (let k = 0; k < px.length; k++) px[k] = (rnd() * 256) | 0;
    const bytes = await sharp(px, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    out.push({ name: `noise-${width}x${height}-${i}.jpg`, bytes });
  }
  return out;
}

/**
 * The first image sharp cannot read ("file: why"), or undefined when all can. Reads headers only (format,
 * size), so it is cheap even for a directory of photos; a file that is not an image at all (a
 * `package.json` passed by mistake) would otherwise be sent to the server once per request of a whole run.
 */
export async function firstUnreadableImage(images: LoadedImage[]): Promise<string | undefined> {
  for (const im of images) {
    if (im.bytes.length === 0) return `${im.name}: the file is empty`;
    try {
      const m = await sharp(im.bytes).metadata();
      if (!m.width || !m.height) return `${im.name}: no image size in its header (format ${m.format ?? 'unknown'})`;
    } catch (e) {
      return `${im.name}: not an image this client can read (${(e as Error).message})`;
    }
  }
  return undefined;
}
