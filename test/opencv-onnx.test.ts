import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import type { Engine } from '../src/backends/engine';
import { createOnnxEngine } from '../src/backends/onnxruntime';
import { exportLayersModelToOnnx } from '../src/models/export-onnx';
import { buildGoogLeNet, GOOGLENET_INPUT_SIZE } from '../src/models/googlenet';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS, normalizeInto } from '../src/models/preprocess';
import { sharedFixture } from './helpers/fixtures';
import { suiteTempDir } from './helpers/temp-dir';
import { requireTool, toolRuns } from './helpers/tools';

const PYTHON = '/usr/bin/python3';
const FORWARD = path.resolve(__dirname, '..', '..', 'test', 'helpers', 'opencv_forward.py');
const SIZE = GOOGLENET_INPUT_SIZE;
const run = promisify(execFile);

function topK(p: ArrayLike<number>, k: number): number[] {
  return Array.from(p, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

/**
 * The anchor (bench/anchor: Flask + OpenCV DNN, the design this project replaces) runs the very file our
 * server serves, so OpenCV must load the exporter's GoogLeNet and compute what ONNX Runtime computes.
 */
describe('OpenCV DNN runs the exported GoogLeNet as ONNX Runtime does', function () {
  const dir = suiteTempDir('opencv-onnx-test-');
  let onnxFile = '';
  let engine: Engine | undefined;

  before(async function () {
    requireTool(this, toolRuns(PYTHON, ['-c', 'import cv2']), `${PYTHON} with cv2 not available (apt-get install python3-opencv)`);
    const previous = tf.getBackend();
    await tf.setBackend('cpu');
    const model = buildGoogLeNet(); // synthetic weights, seed 2014: what `npm start` serves
    const bytes = exportLayersModelToOnnx(model, { source: 'builtin:googlenet' });
    model.dispose();
    if (previous && previous !== 'cpu') await tf.setBackend(previous);
    onnxFile = path.join(dir.path, 'googlenet.onnx');
    fs.writeFileSync(onnxFile, bytes);
    engine = await createOnnxEngine(bytes, { cuda: false, threads: 2 });
  });
  after(async function () {
    await engine?.dispose();
  });

  async function expectAgreement(x: Float32Array): Promise<void> {
    const inputFile = path.join(dir.path, 'input.f32');
    fs.writeFileSync(inputFile, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    const { stdout } = await run(PYTHON, [FORWARD, onnxFile, inputFile, '1', String(SIZE), String(SIZE), '3'], { maxBuffer: 16 << 20 });
    const cv = (JSON.parse(stdout) as { probabilities: number[][] }).probabilities[0];
    const ort = await engine!.predict(x, 1);
    expect(cv.length).to.equal(ort.length);
    let maxAbs = 0;
    for (let i = 0; i < ort.length; i++) maxAbs = Math.max(maxAbs, Math.abs(cv[i] - ort[i]));
    expect(maxAbs, 'max |p_opencv − p_ort|').to.be.at.most(1e-4);
    expect(topK(cv, 5), 'top-5, in order').to.deep.equal(topK(ort, 5));
  }

  it('the export has no Gemm (OpenCV 4.6 refuses Gemm with an initializer bias) and OpenCV loads it', async function () {
    const graph = onnx.ModelProto.decode(fs.readFileSync(onnxFile)).graph!;
    const ops = new Set(graph.node!.map((n) => n.opType));
    expect(ops.has('Gemm')).to.equal(false);
    expect(ops.has('MatMul') && ops.has('Add')).to.equal(true);
    await run(PYTHON, ['-c', 'import cv2, sys; cv2.dnn.readNetFromONNX(sys.argv[1])', onnxFile]);
  });

  it('same top-5 and probabilities for a seeded input tensor', async function () {
    const x = new Float32Array(SIZE * SIZE * 3);
    let s = 2014;
    for (let i = 0; i < x.length; i++) x[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    await expectAgreement(x);
  });

  it('same top-5 and probabilities for chelsea.jpg decoded and normalised as the server does', async function () {
    const image = fs.readFileSync(sharedFixture(this, 'images/chelsea.jpg'));
    const decoded = await decodeImage(image, { width: SIZE, height: SIZE, maxInputPixels: DEFAULT_MAX_INPUT_PIXELS });
    const x = new Float32Array(SIZE * SIZE * 3);
    normalizeInto(decoded.rgb, x, 0, 'signed');
    await expectAgreement(x);
  });
});
