/**
 * Issue 6's bad-input list, item by item, against a real server (MobileNet): each gets a clear status and a
 * message a caller can act on, and after each one the server still answers a Ping and classifies a real
 * photo correctly. test/server.test.ts covers the basics (empty, random, truncated, PNG bomb, invalid
 * protobuf, oversize); this file completes the list (JPEG bomb timing, animated and multi-page images,
 * 1×1, grayscale, CMYK, wrong wire types, top_k extremes, garbage of several kinds between good stream frames)
 * so the whole list lives in one place.
 */
import * as fs from 'node:fs';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { ClassifyRequest, ClassifyResponse } from '../src/gen/inference/v1/inference';
import { sharedFixture } from './helpers/fixtures';
import { mobilenetServer } from './helpers/mobilenet-server';
import { jpegBomb, pngBomb } from './helpers/image-bombs';
import { classify, ping, rawClassifyStream, rawUnary, statusOf } from './helpers/grpc-client';

const DOMESTIC_CATS = [281, 282, 283, 284, 285];
const ESPRESSO = 967;
const MAX_MESSAGE = 2 * 1024 * 1024;

describe('bad input: every item of the list, server alive after each', function () {
  this.timeout(60_000);
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'silent', maxMessageBytes: MAX_MESSAGE });

  /** The server is alive and still right: a Ping echoes, a real photo is classified correctly, nothing is left queued. */
  async function alive(): Promise<void> {
    expect((await ping(live.client, { seq: 77n })).seq).to.equal(77n);
    expect((await classify(live.client, { image: live.coffee, topK: 1 })).predictions[0].classIndex).to.equal(ESPRESSO);
    expect(live.server.batcher.stats()).to.include({ queued: 0, failedBatches: 0 });
  }

  async function rejected(image: Buffer, code: grpc.status, message: RegExp, extra: Partial<ClassifyRequest> = {}): Promise<grpc.ServiceError> {
    const err = await statusOf(classify(live.client, { image, ...extra }));
    expect(grpc.status[err.code], err.details).to.equal(grpc.status[code]);
    expect(err.details).to.match(message);
    await alive();
    return err;
  }

  it('0-byte image → INVALID_ARGUMENT "image is empty"', async () => {
    await rejected(Buffer.alloc(0), grpc.status.INVALID_ARGUMENT, /image is empty \(0 bytes\)/);
  });

  it('random bytes → INVALID_ARGUMENT naming the problem (not an image format we read)', async () => {
    let x = 12345;
    const noise = Buffer.alloc(4096, 0).map(() => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
    await rejected(Buffer.from(noise), grpc.status.INVALID_ARGUMENT, /unsupported image format|could not be read/);
  });

  it('truncated JPEG (../shared/images/truncated.jpg) → INVALID_ARGUMENT, not a half-grey classification', async function () {
    const truncated = fs.readFileSync(sharedFixture(this, 'images/truncated.jpg'));
    await rejected(truncated, grpc.status.INVALID_ARGUMENT, /image could not be (read|decoded).*premature end of JPEG/i);
  });

  it('a JPEG and a PNG header declaring 30000×30000 → INVALID_ARGUMENT from the header alone (no memory spike)', async () => {
    for (const [name, bomb] of [['jpeg', await jpegBomb(30000, 30000)], ['png', pngBomb(30000, 30000)]] as const) {
      const rss0 = process.memoryUsage().rss;
      const err = await statusOf(classify(live.client, { image: bomb }));
      expect(err.code, name).to.equal(grpc.status.INVALID_ARGUMENT);
      // The header check's message: libvips, had decoding started, would have said "exceeds pixel limit".
      expect(err.details, name).to.match(/30000×30000 = 900000000 pixels, over the limit of 50000000 pixels \(--max-input-pixels\)/);
      // Decoding 900 Mpx would need 2.7 GB.
      expect(process.memoryUsage().rss - rss0, `${name} RSS growth`).to.be.lessThan(100 * 1024 * 1024);
    }
    await alive();
  });

  it('animated GIF and multi-page TIFF → the first frame is classified', async () => {
    const frame = (img: Buffer): Promise<Buffer> => sharp(img).resize(224, 224, { fit: 'fill' }).removeAlpha().png().toBuffer();
    const [cup, cat] = [await frame(live.coffee), await frame(live.chelsea)];
    const gif = await sharp([cup, cat], { join: { animated: true } }).gif().toBuffer();
    const tiff = await sharp([cat, cup], { join: { animated: true } }).tiff().toBuffer();
    expect((await sharp(gif).metadata()).pages).to.equal(2);
    expect((await sharp(tiff).metadata()).pages).to.equal(2);
    const g = await classify(live.client, { image: gif, topK: 3 });
    expect(g.predictions[0].classIndex, `GIF top 1: ${g.predictions[0].label}`).to.equal(ESPRESSO);
    const t = await classify(live.client, { image: tiff, topK: 3 });
    expect(t.predictions.some((p) => DOMESTIC_CATS.includes(p.classIndex)), `TIFF top 3: ${t.predictions.map((p) => p.label).join(', ')}`).to.equal(true);
    await alive();
  });

  it('a 1×1 image → classified (upscaled to the input), 5 predictions', async () => {
    const px = await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    const r = await classify(live.client, { image: px });
    expect(r.predictions).to.have.length(5);
    expect(r.timing!.batchSize).to.be.at.least(1);
    await alive();
  });

  it('grayscale and CMYK JPEGs → converted to sRGB and classified (CMYK coffee is still espresso)', async () => {
    const gray = await sharp(live.coffee).toColourspace('b-w').jpeg().toBuffer();
    const cmyk = await sharp(live.coffee).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(gray).metadata()).channels).to.equal(1);
    expect((await sharp(cmyk).metadata()).space).to.equal('cmyk');
    const g = await classify(live.client, { image: gray, topK: 5 });
    expect(g.predictions).to.have.length(5);
    const c = await classify(live.client, { image: cmyk, topK: 1 });
    expect(c.predictions[0].classIndex, `CMYK top 1: ${c.predictions[0].label}`).to.equal(ESPRESSO);
    await alive();
  });

  it('a message over --max-message-bytes → RESOURCE_EXHAUSTED (unary and on a stream)', async () => {
    await rejected(Buffer.alloc(MAX_MESSAGE + 1024, 1), grpc.status.RESOURCE_EXHAUSTED, /message larger than max|Received message larger/i);
    const call = live.client.classifyStream();
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    call.on('data', () => undefined);
    call.write(ClassifyRequest.fromPartial({ image: Buffer.alloc(MAX_MESSAGE + 1024, 1) }));
    call.end();
    expect((await status).code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    await alive();
  });

  it('top_k 0 → 5 predictions; top_k 100000 → all 1000 classes, best first', async () => {
    expect((await classify(live.client, { image: live.coffee, topK: 0 })).predictions).to.have.length(5);
    const all = (await classify(live.client, { image: live.coffee, topK: 100_000 })).predictions;
    expect(all).to.have.length(1000);
    expect(all[0].classIndex).to.equal(ESPRESSO);
    expect(all.every((p, i) => i === 0 || all[i - 1].probability >= p.probability)).to.equal(true);
    await alive();
  });

  it('unknown fields of every wire type are ignored; a known field with the wrong wire type is skipped, not fatal', async () => {
    const good = Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1, requestId: 'u' })).finish());
    const unknown = Buffer.concat([
      good,
      Buffer.from([0x98, 0x06, 0x01]), // field 99, varint
      Buffer.from([0xa2, 0x06, 0x03, 0x61, 0x62, 0x63]), // field 100, length-delimited "abc"
      Buffer.from([0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]), // field 101, fixed64
      Buffer.from([0xb5, 0x06, 1, 2, 3, 4]), // field 102, fixed32
    ]);
    const r = ClassifyResponse.decode(await rawUnary(live.target, '/inference.v1.InferenceService/Classify', unknown));
    expect([r.requestId, r.predictions[0].classIndex]).to.deep.equal(['u', ESPRESSO]);
    // image (field 1) sent as a varint: skipped like an unknown field, so the request has no image.
    const err = await statusOf(rawUnary(live.target, '/inference.v1.InferenceService/Classify', Buffer.from([0x08, 0x05])));
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(err.details).to.match(/image is empty/);
    await alive();
  });

  it('a stream with garbage of several kinds between good frames: an error response per bad frame, good ones classified, in order', async () => {
    const req = (id: string, image: Buffer): Buffer => Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial({ image, topK: 3, requestId: id })).finish());
    const frames: Array<[string, Buffer, RegExp | null]> = [
      ['g1', req('g1', live.coffee), null],
      ['', Buffer.from([0x0a, 0x05, 0x01]), /not a valid inference\.v1\.ClassifyRequest/], // truncated protobuf
      ['g2', req('g2', live.chelsea), null],
      ['', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /not a valid inference\.v1\.ClassifyRequest/], // bad tag varint
      ['g3', req('g3', live.coffee), null],
      ['', Buffer.alloc(0), /image is empty/], // an empty message is a valid, empty request
      ['b4', req('b4', Buffer.from('definitely not an image')), /unsupported image format|could not be read/],
      ['g5', req('g5', live.chelsea), null],
      ['b6', req('b6', live.chelsea.subarray(0, 2000)), /could not be decoded/],
      ['g7', req('g7', live.coffee), null],
    ];
    const got = await rawClassifyStream(live.target, frames.map(([, bytes]) => bytes));
    expect(got.map((r) => r.requestId)).to.deep.equal(frames.map(([id]) => id));
    for (const [i, [id, , bad]] of frames.entries()) {
      const r = got[i];
      if (bad) {
        expect(r.error?.codeName, `frame ${i}`).to.equal('INVALID_ARGUMENT');
        expect(r.error!.message, `frame ${i}`).to.match(bad);
        expect(r.predictions).to.have.length(0);
      } else {
        expect(r.error, `frame ${i} (${id})`).to.equal(undefined);
        const idx = r.predictions.map((p) => p.classIndex);
        if (id === 'g2' || id === 'g5') expect(idx.some((c) => DOMESTIC_CATS.includes(c)), id).to.equal(true);
        else expect(idx[0], id).to.equal(ESPRESSO);
      }
    }
    await alive();
  });
});
