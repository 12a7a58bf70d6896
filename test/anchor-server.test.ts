import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { anchorUnavailable, startAnchor, type AnchorServer } from '../bench/anchor/anchor-server';
import { h2loadAnchor, missingH2Tools, verifyAnchor, type AnchorPrediction } from '../bench/h2load';
import type { Engine } from '../src/backends/engine';
import { createOnnxEngine } from '../src/backends/onnxruntime';
import { exportLayersModelToOnnx } from '../src/models/export-onnx';
import { buildGoogLeNet, GOOGLENET_INPUT_SIZE } from '../src/models/googlenet';
import type { Normalize } from '../src/models/model';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS, normalizeInto } from '../src/models/preprocess';
import { sharedFixture } from './helpers/fixtures';
import { jpegBomb, pngBomb } from './helpers/image-bombs';
import { suiteTempDir } from './helpers/temp-dir';
import { requireTool } from './helpers/tools';

const SIZE = GOOGLENET_INPUT_SIZE;

async function post(port: number, body: Uint8Array, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/classify${query}`, { method: 'POST', body, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A 224×224 PNG of seeded noise: lossless and already the input size, so neither side resamples it. */
async function noisePng(): Promise<Buffer> {
  const px = Buffer.alloc(SIZE * SIZE * 3);
  let s = 7;
  for (let i = 0; i < px.length; i++) px[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  return sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer();
}

/**
 * The anchor (bench/anchor/flask_opencv_server.py), the Flask + OpenCV design this project replaces, serving
 * the GoogLeNet export our server serves.
 */
describe('anchor server (Flask + OpenCV DNN)', function () {
  const dir = suiteTempDir('anchor-server-test-');
  let onnxFile = '';
  let engine: Engine | undefined;
  const anchors: AnchorServer[] = [];
  let anchor: AnchorServer;

  before(async function () {
    const missing = anchorUnavailable();
    requireTool(this, missing === undefined, missing ?? '');
    const previous = tf.getBackend();
    await tf.setBackend('cpu');
    const model = buildGoogLeNet();
    const bytes = exportLayersModelToOnnx(model);
    model.dispose();
    if (previous && previous !== 'cpu') await tf.setBackend(previous);
    onnxFile = path.join(dir.path, 'googlenet.onnx');
    fs.writeFileSync(onnxFile, bytes);
    engine = await createOnnxEngine(bytes, { cuda: false, threads: 2 });
    anchor = await startAnchor({ onnxPath: onnxFile, normalize: 'signed', inputSize: SIZE });
    anchors.push(anchor);
  });
  after(async function () {
    await Promise.all(anchors.map((a) => a.stop()));
    await engine?.dispose();
  });

  it('answers a real image with 5 predictions, most probable first', async function () {
    const preds = await verifyAnchor(anchor.port, sharedFixture(this, 'images/chelsea.jpg'));
    expect(preds).to.have.length(5);
    for (let i = 1; i < 5; i++) expect(preds[i].probability).to.be.at.most(preds[i - 1].probability);
    expect(preds.every((p) => p.class_index >= 0 && p.class_index < 1000 && p.probability > 0 && p.probability <= 1)).to.equal(true);
  });

  it('answers garbage, an empty body and a truncated JPEG with 400 and a reason, and keeps serving', async function () {
    const jpeg = await sharp(await noisePng()).jpeg().toBuffer();
    for (const body of [Buffer.from('this is not an image'), Buffer.alloc(0), jpeg.subarray(0, 300)]) {
      const r = await post(anchor.port, body);
      expect(r.status, `${body.length} bytes`).to.equal(400);
      expect(r.json.error).to.be.a('string').and.match(/image/);
    }
    expect((await post(anchor.port, jpeg, '?top_k=0')).status).to.equal(400);
    const ok = await post(anchor.port, jpeg);
    expect(ok.status).to.equal(200);
    expect(ok.json.predictions).to.have.length(5);
  });

  it('refuses images over the pixel limit from their header (400), as our server does', async function () {
    for (const bomb of [pngBomb(30000, 30000), await jpegBomb(10000, 6000)]) {
      const r = await post(anchor.port, bomb);
      expect(r.status).to.equal(400);
      expect(r.json.error).to.be.a('string');
    }
    const health = await (await fetch(`http://127.0.0.1:${anchor.port}/healthz`)).json() as { status: string };
    expect(health.status).to.equal('ok');
  });

  it('h2load --h1 drives it with N clients, one request each, by request counts: no failures, latencies reported', async function () {
    requireTool(this, !missingH2Tools().includes('h2load'), 'h2load not found (apt-get install nghttp2-client)');
    const image = path.join(dir.path, 'noise.jpg');
    fs.writeFileSync(image, await sharp(await noisePng()).jpeg().toBuffer());
    const r = await h2loadAnchor({ port: anchor.port, imageFile: image, inFlight: 2, durationS: 1, warmUpS: 0.5 });
    expect(r.done).to.be.greaterThan(0);
    expect([r.failed, r.non2xx]).to.deep.equal([0, 0]);
    expect(r.p50_ms).to.be.greaterThan(0).and.at.most(r.p99_ms);
    expect(r.command).to.match(/^h2load -n \d+ --h1 -c 2 -m 1 /);
    expect(r.done % 2).to.equal(0);
    expect(r.elapsed_s).to.be.greaterThan(0);
  });

  // blobFromImage's mean/scale/swapRB and the NHWC transpose must give the tensor normalizeInto gives.
  for (const normalize of ['signed', 'caffe'] as Normalize[]) {
    it(`feeds the graph as our server does (--normalize ${normalize}): same probabilities for the same pixels`, async function () {
      const a = normalize === 'signed' ? anchor : await startAnchor({ onnxPath: onnxFile, normalize, inputSize: SIZE });
      if (a !== anchor) anchors.push(a);
      const png = await noisePng();
      const r = await post(a.port, png, '?top_k=1000');
      expect(r.status).to.equal(200);
      const got = r.json.predictions as AnchorPrediction[];
      const decoded = await decodeImage(png, { width: SIZE, height: SIZE, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
      const x = new Float32Array(SIZE * SIZE * 3);
      normalizeInto(decoded.rgb, x, 0, normalize);
      const ours = await engine!.predict(x, 1);
      let maxAbs = 0;
      for (const p of got) maxAbs = Math.max(maxAbs, Math.abs(p.probability - ours[p.class_index]));
      expect(maxAbs, 'max |p_anchor − p_ours|').to.be.at.most(1e-4);
      const ourTop5 = Array.from(ours, (v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]).slice(0, 5).map(([, i]) => i);
      expect(got.slice(0, 5).map((p) => p.class_index)).to.deep.equal(ourTop5);
    });
  }
});
