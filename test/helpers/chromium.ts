/**
 * Real-browser tests: Debian's Chromium driven by puppeteer-core (no browser is ever downloaded), and a
 * fake camera fed from a Y4M video made at test time from a photo. Outside CI a missing Chromium skips the
 * test with the reason; under CI=true it fails (.ci/run installs the `chromium` package).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

export const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);

/** Path of a Chromium executable, or skips the calling test (printing why); under CI=true a failure. */
export function chromiumOrSkip(ctx: Mocha.Context): string {
  const found = CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
  if (found) return found;
  const reason = `Chromium not found (tried ${CHROMIUM_CANDIDATES.join(', ')}; Debian package \`chromium\`, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must have it (.ci/run installs it)`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
  throw new Error('unreachable');
}

/**
 * Writes a YUV4MPEG2 file of `frames` identical 4:2:0 frames of `photo` at width×height, the format
 * Chromium's --use-file-for-fake-video-capture reads. Full-range BT.601 (JFIF) conversion, one chroma
 * sample per 2×2 block (the mean of the block).
 */
export async function writeY4m(photo: string, file: string, width = 640, height = 480, frames = 5, fps = 10): Promise<void> {
  const rgb = await sharp(photo).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  const clamp = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
  for (let i = 0; i < width * height; i++) {
    const r = rgb[i * 3];
    const g = rgb[i * 3 + 1];
    const b = rgb[i * 3 + 2];
    y[i] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
  }
  for (let by = 0; by < height / 2; by++) {
    for (let bx = 0; bx < width / 2; bx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = ((by * 2 + dy) * width + bx * 2 + dx) * 3;
        r += rgb[p];
        g += rgb[p + 1];
        b += rgb[p + 2];
      }
      r /= 4;
      g /= 4;
      b /= 4;
      u[by * (width / 2) + bx] = clamp(-0.168736 * r - 0.331264 * g + 0.5 * b + 128);
      v[by * (width / 2) + bx] = clamp(0.5 * r - 0.418688 * g - 0.081312 * b + 128);
    }
  }
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) parts.push(Buffer.from('FRAME\n'), y, u, v);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat(parts));
}
