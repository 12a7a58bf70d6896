/**
 * rtinfer --client-resize / --send: the client resizes once per distinct image as the server would and sends
 * a JPEG of the model's input size or the raw tensor; the report says which, with the bytes per call.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { main } from '../src/client/cli';
import { prepareImages, sendChoiceOf } from '../src/client/client-resize';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS } from '../src/models/preprocess';
import { startServer, type RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { classify, connect, statusOf } from './helpers/grpc-client';

function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

/** GetServerInfo as JSON, as much of it as prepareImages reads. */
const INFO_224 = { model: { inputWidth: 224, inputHeight: 224 }, maxMessageBytes: 8 * 1024 * 1024 };

interface RequestJson {
  sent: string;
  bytes_per_request: number;
  client_resize?: { width: number; height: number; images: number; prepare_ms: number; source_bytes_per_image: number };
}

describe('client resize: the same pixels as the server makes', () => {
  it('a --send tensor image is byte for byte what the server\'s decodeImage (fill) makes of the file', async function () {
    for (const f of ['images/chelsea.jpg', 'images/coffee.png']) {
      const bytes = fs.readFileSync(sharedFixture(this, f));
      const { images, request } = await prepareImages([{ name: f, bytes }], 'tensor', INFO_224, 5);
      const server = await decodeImage(bytes, { width: 224, height: 224, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
      expect(images[0].field).to.equal('tensor');
      expect(images[0].bytes.equals(server.rgb), f).to.equal(true);
      expect(request).to.deep.include({ sent: 'tensor' });
      expect(request.client_resize).to.deep.include({ width: 224, height: 224, images: 1, source_bytes_per_image: bytes.length });
    }
  });

  it('--send jpeg makes a JPEG of the input size; no --client-resize sends the images as they are', async function () {
    const bytes = fs.readFileSync(sharedFixture(this, 'images/coffee.png'));
    const jpeg = await prepareImages([{ name: 'coffee.png', bytes }], 'jpeg', { model: { inputWidth: 160, inputHeight: 128 } }, 5);
    expect(jpeg.images[0].field).to.equal(undefined);
    expect(jpeg.images[0].bytes.subarray(0, 3).toString('hex')).to.equal('ffd8ff');
    expect(jpeg.request.client_resize).to.deep.include({ width: 160, height: 128 });
    const decoded = await decodeImage(jpeg.images[0].bytes, { width: 160, height: 128, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
    expect([decoded.format, decoded.sourceWidth, decoded.sourceHeight]).to.deep.equal(['jpeg', 160, 128]);
    const asIs = await prepareImages([{ name: 'coffee.png', bytes }], undefined, undefined, 5);
    expect(asIs.images[0].bytes).to.equal(bytes);
    expect(asIs.request.sent).to.equal('image');
    expect(asIs.request.bytes_per_request).to.be.within(bytes.length, bytes.length + 16);
    expect(asIs.request.client_resize).to.equal(undefined);
  });

  it('refuses clearly: --send without --client-resize, no input size from the server, a tensor over the max message', async () => {
    expect(sendChoiceOf({ 'client-resize': true })).to.equal('jpeg');
    expect(sendChoiceOf({ 'client-resize': true, send: 'tensor' })).to.equal('tensor');
    expect(sendChoiceOf({})).to.equal(undefined);
    expect(() => sendChoiceOf({ send: 'tensor' })).to.throw(/--send tensor goes with --client-resize/);
    const im = [{ name: 'x', bytes: Buffer.alloc(1) }];
    await prepareImages(im, 'jpeg', undefined, 5).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.match(/did not answer GetServerInfo/));
    await prepareImages(im, 'jpeg', { model: {} }, 5).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.match(/GetServerInfo did not say it/));
    await prepareImages(im, 'tensor', { model: { inputWidth: 224, inputHeight: 224 }, maxMessageBytes: 100_000 }, 5).then(
      () => expect.fail('resolved'),
      (e: Error) => expect(e.message).to.equal('--send tensor: a 224×224×3 tensor is 150528 bytes, more than the server\'s largest message (100000 bytes, its --max-message-bytes); use --send jpeg'),
    );
    await prepareImages(im, 'tensor', INFO_224, 5).then(() => expect.fail('resolved'), (e: Error) => expect(e.message).to.match(/^--client-resize: cannot resize x: /));
  });
});

describe('client resize: rtinfer end to end against an in-process server', function () {
  this.timeout(120_000);
  let server: RunningServer;
  let target: string;
  let cat: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtinfer-resize-'));

  before(async function () {
    cat = sharedFixture(this, 'images/chelsea.jpg');
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'warn' });
    target = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.shutdown(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('bench --client-resize --send tensor: every call a tensor, no server decode, the JSON says tensor and its bytes per request', async () => {
    const c = io();
    const json = path.join(dir, 'tensor.json');
    const code = await main(['bench', '--target', target, '--client-resize', '--send', 'tensor', '--requests', '12', '--warmup', '0', '-C', '2', '--no-path', '--json', json], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    const req = rep.summary.request as RequestJson;
    expect(req.sent).to.equal('tensor');
    // 224×224×3 pixels plus the field tags and top_k.
    expect(req.bytes_per_request).to.be.within(150_528, 150_560);
    // Prepared once per distinct image (4 generated noise JPEGs), not per request.
    expect(req.client_resize).to.deep.include({ width: 224, height: 224, images: 4 });
    expect(req.client_resize!.prepare_ms).to.be.greaterThan(0);
    expect(rep.summary.ok).to.equal(12);
    expect(rep.summary.server_timing.decode_ms).to.equal(0);
    expect(rep.summary.mb_per_s_up * 1e6 * rep.summary.duration_s / 12).to.be.closeTo(req.bytes_per_request, 1);
    expect(rep.settings).to.include({ clientResize: true, send: 'tensor' });
    const text = c.out.join('\n');
    expect(text).to.match(/images +generated noise 224×224, 4 JPEGs of [\d.]+ kB on average, sent in turn as tensors client-resized to 224×224, raw uint8 RGB \(the server decodes nothing\): 150\.5 kB per call/);
    expect(text).to.match(/^request: tensors client-resized to 224×224, raw uint8 RGB \(the server decodes nothing\), 150\.5 kB per call; resized 4 images \([\d.]+ kB on average\) once before the run in [\d.]+ ms \(not in the measured loop\)$/m);
  });

  it('bench --rpc stream --client-resize (jpeg by default) and stream --send tensor carry what they say', async () => {
    const c = io();
    const json = path.join(dir, 'stream-jpeg.json');
    expect(await main(['bench', '--target', target, '--rpc', 'stream', '--images', cat, '--client-resize', '--requests', '6', '--warmup', '0', '--no-path', '--json', json], c.io), c.err.join('\n')).to.equal(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    const req = rep.summary.request as RequestJson;
    expect(req.sent).to.equal('jpeg');
    expect(req.client_resize).to.deep.include({ width: 224, height: 224, images: 1, source_bytes_per_image: fs.statSync(cat).size });
    expect(req.bytes_per_request).to.be.lessThan(fs.statSync(cat).size);
    expect(rep.summary.ok).to.equal(6);
    expect(rep.summary.server_timing.decode_ms).to.be.greaterThan(0);

    const s = io();
    const sjson = path.join(dir, 'stream-tensor.json');
    expect(await main(['stream', '--target', target, '--images', cat, '--client-resize', '--send', 'tensor', '--frames', '5', '--fps', '20', '--warmup', '0', '--no-path', '--json', sjson], s.io), s.err.join('\n')).to.be.oneOf([0, 4]);
    const srep = JSON.parse(fs.readFileSync(sjson, 'utf8'));
    expect(srep.summary.request.sent).to.equal('tensor');
    expect(srep.summary.ok).to.be.at.least(1);
    expect(srep.summary.server_timing.decode_ms).to.equal(0);
  });

  it('classify --client-resize --send tensor: the cat is still a cat, and the summary says what was sent', async () => {
    const c = io();
    const json = path.join(dir, 'classify.json');
    const code = await main(['classify', cat, '--target', target, '--top-k', '3', '--client-resize', '--send', 'tensor', '--no-path', '--json', json], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    const text = c.out.join('\n');
    expect(text).to.match(/chelsea\.jpg \(150528 bytes\)/);
    expect(text.split('\n')[2]).to.match(/cat/i);
    expect(text).to.match(/decode 0\.00 \+/);
    expect(text).to.match(/^request: tensors client-resized to 224×224, raw uint8 RGB \(the server decodes nothing\), 150\.5 kB per call; resized one image \([\d.]+ kB\) once before the run in [\d.]+ ms/m);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.summary.request).to.deep.include({ sent: 'tensor' });
    expect(rep.results[0].bytes).to.equal(150528);

    const plain = io();
    const pjson = path.join(dir, 'classify-plain.json');
    expect(await main(['classify', cat, '--target', target, '--no-path', '--json', pjson], plain.io)).to.equal(0);
    expect(JSON.parse(fs.readFileSync(pjson, 'utf8')).summary.request.sent).to.equal('image');
    expect(plain.out.join('\n')).to.match(/^request: images as they are \(the server decodes and resizes each\), [\d.]+ kB per call$/m);
  });

  it('usage errors exit 2 naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['bench', '--send', 'tensor'], /--send tensor goes with --client-resize/],
      [['classify', cat, '--send', 'jpeg'], /--send jpeg goes with --client-resize/],
      [['stream', '--send', 'tensor'], /--send tensor goes with --client-resize/],
      [['bench', '--rpc', 'ping', '--client-resize'], /--client-resize is for --rpc classify and stream/],
      [['bench', '--client-resize', '--send', 'png'], /Argument: send, Given: "png", Choices: "jpeg", "tensor"/],
    ];
    for (const [args, re] of cases) {
      const c = io();
      expect(await main([...args, '--target', target], c.io), args.join(' ')).to.equal(2);
      expect(c.err.join('\n'), args.join(' ')).to.match(re);
    }
  });
});

describe('client resize: a server whose max message is under a tensor', function () {
  this.timeout(120_000);
  let server: RunningServer;
  let target: string;

  before(async function () {
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'error', maxMessageBytes: 120_000 });
    target = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.shutdown(1000);
  });

  it('the server refuses a tensor over --max-message-bytes (RESOURCE_EXHAUSTED); rtinfer says so before the run, and --send jpeg works', async () => {
    const client = connect(target);
    try {
      const err = await statusOf(classify(client, { tensor: Buffer.alloc(224 * 224 * 3, 1) }));
      expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
    const c = io();
    expect(await main(['bench', '--target', target, '--client-resize', '--send', 'tensor', '--requests', '2', '--warmup', '0'], c.io)).to.equal(1);
    expect(c.err.join('\n')).to.match(/--send tensor: a 224×224×3 tensor is 150528 bytes, more than the server's largest message \(120000 bytes, its --max-message-bytes\); use --send jpeg/);
    const j = io();
    expect(await main(['bench', '--target', target, '--client-resize', '--requests', '2', '--warmup', '0', '--no-path'], j.io), j.err.join('\n')).to.equal(0);
  });
});
