import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import { toStatus } from '../src/server/errors';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS, ImageError, normalizeInto, type DecodeOptions } from '../src/models/preprocess';
import { sharedFixture } from './helpers/fixtures';
import { jpegBomb, pngBomb } from './helpers/image-bombs';

const OPTS: DecodeOptions = { width: 8, height: 8, maxInputPixels: 4096 * 4096 };

/** A w×h image of one sRGB colour, converted to colour space `space` (e.g. 'b-w', 'cmyk') before encoding when given. */
async function solid(r: number, g: number, b: number, w = 8, h = 8, fmt: 'png' | 'jpeg' = 'png', space?: string): Promise<Buffer> {
  const created = sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });
  const img = space ? created.toColourspace(space) : created;
  return fmt === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 100 }).toBuffer();
}

/** Pixel (x, y) of an HWC RGB buffer. */
function px(rgb: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

/** Expects an ImageError that the server turns into INVALID_ARGUMENT with the same message. */
async function expectInvalid(p: Promise<unknown>, match: RegExp): Promise<ImageError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ImageError);
    const e = err as ImageError;
    expect(toStatus(e).code).to.equal(status.INVALID_ARGUMENT);
    expect(toStatus(e).message).to.equal(e.message);
    expect(e.message).to.match(match);
    return e;
  }
  throw new Error('expected INVALID_ARGUMENT, got success');
}

describe('preprocess: decodeImage', () => {
  it('decodes a known colour exactly and reports the source size and format', async () => {
    const d = await decodeImage(await solid(200, 100, 50, 30, 20), OPTS);
    expect(d.rgb.length).to.equal(8 * 8 * 3);
    expect(px(d.rgb, 8, 0, 0)).to.deep.equal([200, 100, 50]);
    expect(px(d.rgb, 8, 7, 7)).to.deep.equal([200, 100, 50]);
    expect([d.sourceWidth, d.sourceHeight, d.format]).to.deep.equal([30, 20, 'png']);
    expect(d.decodeNanos > 0n).to.equal(true);
  });

  it('applies EXIF orientation (orientation 6 = rotate 90° clockwise)', async () => {
    // Stored image 20×10: left half red, right half blue. Rotated 90° CW, the left half becomes the top.
    const raw = Buffer.alloc(20 * 10 * 3);
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 20; x++) raw.set(x < 10 ? [255, 0, 0] : [0, 0, 255], (y * 20 + x) * 3);
    const jpg = await sharp(raw, { raw: { width: 20, height: 10, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const d = await decodeImage(jpg, OPTS);
    const [tr, , tb] = px(d.rgb, 8, 4, 0);
    const [br, , bb] = px(d.rgb, 8, 4, 7);
    expect(tr, 'top is red after rotation').to.be.greaterThan(200);
    expect(tb).to.be.lessThan(60);
    expect(bb, 'bottom is blue after rotation').to.be.greaterThan(200);
    expect(br).to.be.lessThan(60);
  });

  it('flattens transparency onto white', async () => {
    const transparent = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    expect(px((await decodeImage(transparent, OPTS)).rgb, 8, 3, 3)).to.deep.equal([255, 255, 255]);
    const halfRed = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
    const [r, g, b] = px((await decodeImage(halfRed, OPTS)).rgb, 8, 3, 3);
    expect(r).to.equal(255);
    expect(g).to.be.within(120, 135); // half-way to white
    expect(b).to.be.within(120, 135);
  });

  it('turns a 1-channel greyscale JPEG into 3 equal channels', async () => {
    const grey = await solid(90, 90, 90, 8, 8, 'jpeg', 'b-w');
    expect((await sharp(grey).metadata()).channels).to.equal(1);
    const [r, g, b] = px((await decodeImage(grey, OPTS)).rgb, 8, 2, 2);
    expect(r).to.equal(g);
    expect(g).to.equal(b);
    expect(r).to.be.within(85, 95);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const cmyk = await solid(200, 40, 40, 8, 8, 'jpeg', 'cmyk');
    const meta = await sharp(cmyk).metadata();
    expect([meta.space, meta.channels]).to.deep.equal(['cmyk', 4]);
    const [r, g, b] = px((await decodeImage(cmyk, OPTS)).rgb, 8, 2, 2);
    expect(r).to.be.greaterThan(170);
    expect(g).to.be.lessThan(80);
    expect(b).to.be.lessThan(80);
  });

  it('takes the first frame of an animated GIF', async () => {
    const red = await solid(255, 0, 0);
    const blue = await solid(0, 0, 255);
    const gif = await sharp([red, blue], { join: { animated: true } }).gif().toBuffer();
    const d = await decodeImage(gif, OPTS);
    const [r, , b] = px(d.rgb, 8, 4, 4);
    expect(r).to.be.greaterThan(200);
    expect(b).to.be.lessThan(60);
    expect([d.sourceWidth, d.sourceHeight]).to.deep.equal([8, 8]);
  });

  it('upscales a 1×1 image', async () => {
    const d = await decodeImage(await solid(10, 200, 30, 1, 1), OPTS);
    expect(px(d.rgb, 8, 7, 7)).to.deep.equal([10, 200, 30]);
  });

  it("resize 'fill' keeps the whole image; 'crop' takes the centre", async () => {
    // 32×8: left quarter red, middle half green, right quarter blue.
    const raw = Buffer.alloc(32 * 8 * 3);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 32; x++) raw.set(x < 8 ? [255, 0, 0] : x < 24 ? [0, 255, 0] : [0, 0, 255], (y * 32 + x) * 3);
    const png = await sharp(raw, { raw: { width: 32, height: 8, channels: 3 } }).png().toBuffer();
    const fill = await decodeImage(png, { ...OPTS, resize: 'fill' });
    expect(px(fill.rgb, 8, 0, 4)[0], 'fill: left edge red').to.be.greaterThan(200);
    expect(px(fill.rgb, 8, 7, 4)[2], 'fill: right edge blue').to.be.greaterThan(200);
    const crop = await decodeImage(png, { ...OPTS, resize: 'crop' });
    expect(px(crop.rgb, 8, 0, 4), 'crop: left edge green').to.deep.equal([0, 255, 0]);
    expect(px(crop.rgb, 8, 7, 4), 'crop: right edge green').to.deep.equal([0, 255, 0]);
  });
});

describe('preprocess: bad input → INVALID_ARGUMENT with a clear message', () => {
  it('0 bytes', async () => {
    await expectInvalid(decodeImage(new Uint8Array(0), OPTS), /empty \(0 bytes\)/);
  });

  it('random bytes', async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251));
    await expectInvalid(decodeImage(bytes, OPTS), /^unsupported image format "unknown"/);
  });

  it('SVG (a format libvips reads but we refuse)', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    await expectInvalid(decodeImage(svg, OPTS), /unsupported image format "svg"/);
  });

  it('SVG and PDF are refused from their first bytes, before any parser runs', async () => {
    // Cut inside a tag: had librsvg parsed it, the answer would be its "XML parse error", not the refusal.
    const broken = Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"><rect width=');
    const e = await expectInvalid(decodeImage(broken, OPTS), /^unsupported image format "svg"; send JPEG/);
    expect(e.message).to.not.match(/parse|XML/);
    await expectInvalid(decodeImage(Buffer.from('%PDF-1.7\n%\xe2\xe3\n1 0 obj'), OPTS), /^unsupported image format "pdf"/);
  });

  it('the server process blocks every libvips loader but the accepted formats (configureSharp blockUnusedLoaders)', function () {
    // A child process: the block is process-wide, and this process's report tests rasterise SVG charts.
    const script = `
      const sharp = require('sharp');
      require(${JSON.stringify(require.resolve('../src/models/preprocess'))}).configureSharp({ blockUnusedLoaders: true });
      (async () => {
        const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
        const svgErr = await sharp(svg).metadata().then(() => 'read', (e) => e.message);
        const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).png().toBuffer();
        const pngOk = await sharp(png).metadata().then((m) => m.format, (e) => e.message);
        process.stdout.write(JSON.stringify({ svgErr, pngOk }));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    const out = JSON.parse(r.stdout) as { svgErr: string; pngOk: string };
    expect(out.svgErr).to.match(/unsupported image format/);
    expect(out.pngOk).to.equal('png');
  });

  it('16-bit samples are refused (slow to decode, no gain at the model input)', async () => {
    const png16 = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 9, g: 9, b: 9 } } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth, 'the crafted image').to.equal('ushort');
    await expectInvalid(decodeImage(png16, OPTS), /image has ushort samples \(png\); send 8 bits per sample/);
  });

  it('the default pixel limit is sized for cameras (48 Mpx passes the header check, 8192² does not)', async () => {
    expect(DEFAULT_MAX_INPUT_PIXELS).to.be.at.least(8000 * 6000).and.lessThan(8192 * 8192);
    await expectInvalid(decodeImage(pngBomb(8192, 8192), { ...OPTS, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS }), /8192×8192 = 67108864 pixels, over the limit of 50000000/);
  });

  it('pixel bomb PNG declaring 30000×30000 is rejected from the header, without decoding', async () => {
    const bomb = pngBomb(30000, 30000);
    expect(bomb.length).to.be.lessThan(200);
    // This message is the header check's (libvips, had it started decoding, would say "exceeds pixel limit").
    await expectInvalid(decodeImage(bomb, { ...OPTS, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS }), /30000×30000 = 900000000 pixels, over the limit of 50000000/);
  });

  it('pixel bomb JPEG declaring 30000×30000 is rejected from the header', async () => {
    const bomb = await jpegBomb(30000, 30000);
    const meta = await sharp(bomb, { limitInputPixels: false }).metadata();
    expect([meta.width, meta.height], 'the crafted header').to.deep.equal([30000, 30000]);
    await expectInvalid(decodeImage(bomb, OPTS), /30000×30000 = 900000000 pixels, over the limit/);
  });

  it('the pixel limit is configurable', async () => {
    const img = await solid(1, 2, 3, 100, 100);
    await expectInvalid(decodeImage(img, { ...OPTS, maxInputPixels: 9999 }), /100×100 = 10000 pixels, over the limit of 9999/);
    await decodeImage(img, { ...OPTS, maxInputPixels: 10000 });
  });

  it('the shared truncated.jpg', async function () {
    const bytes = fs.readFileSync(sharedFixture(this, 'images/truncated.jpg'));
    await expectInvalid(decodeImage(bytes, OPTS), /could not be (read|decoded).*(premature end|corrupt|truncat)/i);
  });

  it('a real JPEG cut in half (header intact, scan data missing)', async function () {
    const full = fs.readFileSync(sharedFixture(this, 'images/chelsea.jpg'));
    const half = full.subarray(0, Math.floor(full.length / 2));
    await expectInvalid(decodeImage(half, { ...OPTS, width: 224, height: 224 }), /could not be decoded \(jpeg \d+×\d+\).*(premature end|truncat)/i);
  });
});

describe('preprocess: normalizeInto', () => {
  const rgb = new Uint8Array([0, 127.5, 255, 200, 100, 50].map(Math.floor));

  it('signed = x/127.5 − 1', () => {
    const out = new Float32Array(6);
    normalizeInto(rgb, out, 0, 'signed');
    expect(out[0]).to.equal(-1);
    expect(out[2]).to.equal(1);
    expect(out[3]).to.be.closeTo(200 / 127.5 - 1, 1e-6);
  });

  it('unit = x/255 and none = x', () => {
    const u = new Float32Array(6);
    normalizeInto(rgb, u, 0, 'unit');
    expect(u[2]).to.equal(1);
    expect(u[4]).to.be.closeTo(100 / 255, 1e-6);
    const n = new Float32Array(6);
    normalizeInto(rgb, n, 0, 'none');
    expect(Array.from(n)).to.deep.equal([0, 127, 255, 200, 100, 50]);
  });

  it('caffe = BGR order minus the ImageNet means', () => {
    const out = new Float32Array(6);
    normalizeInto(rgb, out, 0, 'caffe');
    // pixel 2 is RGB (200,100,50) → BGR (50,100,200) − (103.939,116.779,123.68)
    expect(out[3]).to.be.closeTo(50 - 103.939, 1e-4);
    expect(out[4]).to.be.closeTo(100 - 116.779, 1e-4);
    expect(out[5]).to.be.closeTo(200 - 123.68, 1e-4);
  });

  it('writes only into its slot of a larger batch buffer', () => {
    const batch = new Float32Array(18).fill(9);
    normalizeInto(rgb, batch, 6, 'none');
    expect(Array.from(batch.subarray(0, 6))).to.deep.equal([9, 9, 9, 9, 9, 9]);
    expect(Array.from(batch.subarray(6, 12))).to.deep.equal([0, 127, 255, 200, 100, 50]);
    expect(Array.from(batch.subarray(12))).to.deep.equal([9, 9, 9, 9, 9, 9]);
    expect(() => normalizeInto(rgb, batch, 15, 'none')).to.throw(RangeError);
  });
});
