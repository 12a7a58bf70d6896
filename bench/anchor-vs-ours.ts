/**
 * `npm run bench:anchor` (node dist/bench/anchor-vs-ours.js): our server against the anchor, the design it
 * replaces (Flask + OpenCV DNN, one image per request, threaded; bench/anchor/flask_opencv_server.py), on the
 * same ONNX file (the GoogLeNet export our server logs it loaded), the same image (../shared/images/chelsea.jpg)
 * and the same input semantics (the normalisation and input size our server logs, --resize fill on both).
 *
 * Both are driven by h2load (bench/h2load.ts says how) at 1 and 8 requests in flight, BENCH_ANCHOR_REPS
 * repetitions (default 3) of BENCH_ANCHOR_S measured seconds (default 10) after BENCH_ANCHOR_WARMUP_S of
 * warm-up (default 3), ours and the anchor alternating and the order flipping every repetition, so a noisy
 * neighbour lands on both. Prints, per in-flight level, min / median / max over the repetitions of images/s,
 * p50 and p99 for each side, and the ratios of the medians (ours ÷ anchor: above 1 is better for images/s,
 * below 1 is better for latency). Writes out/bench-anchor-<date>.json.
 *
 * Skips (exit 0, reason printed) when chelsea.jpg, h2load/nghttp or the anchor's Python packages are absent.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClassifyResponse } from '../src/gen/inference/v1/inference';
import { imagenetLabels } from '../src/models/labels';
import { median } from '../src/measure/stats';
import { startServerProcess } from '../test/helpers/server-process';
import { checked, servedFrom } from './served-from';
import {
  anchorRunUnavailable, CLASSIFY_PATH, grpcClassifyBody, h2loadAnchor, h2loadClassify, startAnchor,
  verifyAnchor, verifyGrpcBody, type AnchorPrediction, type H2loadResult,
} from './h2load';
import { writeBenchJson } from './out';

const ROOT = path.join(__dirname, '..', '..');
const IMAGE = path.join(ROOT, '..', 'shared', 'images', 'chelsea.jpg');
const IN_FLIGHT = [1, 8];
const REPS = positive('BENCH_ANCHOR_REPS', 3);
const DURATION_S = positive('BENCH_ANCHOR_S', 10);
const WARMUP_S = positive('BENCH_ANCHOR_WARMUP_S', 3);

function positive(env: string, fallback: number): number {
  const v = Number(process.env[env] ?? fallback);
  if (!(v > 0)) throw new Error(`${env} must be a positive number, got ${process.env[env]}`);
  return v;
}

const log = (m: string): void => void process.stderr.write(`[bench:anchor ${new Date().toISOString().slice(11, 19)} load ${os.loadavg()[0].toFixed(2)}] ${m}\n`);

/** One Classify over h2c with node:http2, decoded: our server's top-5 for the record. */
async function ourTop5(port: number, body: Buffer): Promise<AnchorPrediction[]> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const data = await new Promise<Buffer>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': CLASSIFY_PATH, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
      req.end(body);
    });
    if (data.length < 5) throw new Error('our server sent no response message');
    const msg = ClassifyResponse.decode(data.subarray(5, 5 + data.readUInt32BE(1)));
    return msg.predictions.map((p) => ({ class_index: p.classIndex, label: p.label, probability: p.probability }));
  } finally {
    session.close();
  }
}

interface Spread {
  min: number;
  median: number;
  max: number;
}
const spread = (xs: number[]): Spread => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });

async function main(): Promise<void> {
  const skip = anchorRunUnavailable(IMAGE);
  if (skip !== undefined) {
    process.stdout.write(`bench:anchor SKIPPED: ${skip}\n`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-anchor-'));
  const bodyFile = path.join(tmp, 'classify-request.grpc');
  const body = grpcClassifyBody(fs.readFileSync(IMAGE), 5);
  fs.writeFileSync(bodyFile, body);
  const labelsFile = path.join(tmp, 'labels.txt');
  fs.writeFileSync(labelsFile, `${imagenetLabels().join('\n')}\n`);

  log('our server (onnxruntime, --resize fill) starting');
  const ours = await startServerProcess(['--backend', 'onnxruntime', '--resize', 'fill', '--metrics-port', '0']);
  let anchor: Awaited<ReturnType<typeof startAnchor>> | undefined;
  try {
    const served = servedFrom(ours);
    log(`anchor starting on ${served.onnxPath} (${served.inputSize}², ${served.normalize}, fill)`);
    anchor = await startAnchor({ onnxPath: served.onnxPath, normalize: served.normalize, inputSize: served.inputSize, resize: 'fill', labelsFile });
    await verifyGrpcBody(ours.port, bodyFile);
    const top5 = { ours: await ourTop5(ours.port, body), anchor: await verifyAnchor(anchor.port, IMAGE) };

    const runs: Record<string, { ours: H2loadResult[]; anchor: H2loadResult[] }> = {};
    for (const n of IN_FLIGHT) {
      const r = (runs[`in_flight_${n}`] = { ours: [] as H2loadResult[], anchor: [] as H2loadResult[] });
      for (let rep = 0; rep < REPS; rep++) {
        const shape = { inFlight: n, durationS: DURATION_S, warmUpS: WARMUP_S };
        const sides = [
          async (): Promise<void> => void r.ours.push(checked('ours', await h2loadClassify({ ...shape, port: ours.port, bodyFile, metricsPort: served.metricsPort }), n)),
          async (): Promise<void> => void r.anchor.push(checked('anchor', await h2loadAnchor({ ...shape, port: anchor!.port, imageFile: IMAGE }), n)),
        ];
        if (rep % 2 === 1) sides.reverse();
        log(`in flight ${n}, repetition ${rep + 1}/${REPS} (${rep % 2 === 0 ? 'ours first' : 'anchor first'})`);
        for (const side of sides) await side();
      }
    }

    const lines: string[] = [];
    lines.push(`bench:anchor  ${os.availableParallelism()} cpus  ${os.cpus()[0]?.model ?? ''}  node ${process.version}`);
    lines.push(`image ${path.basename(IMAGE)}; model ${path.basename(served.onnxPath)} (${served.inputSize}², ${served.normalize}, fill); ${REPS} × ${DURATION_S} s after ${WARMUP_S} s warm-up; min / median / max`);
    const fmtTop = (ps: AnchorPrediction[]): string => ps.map((p) => `${p.class_index} ${p.probability.toFixed(3)}`).join(', ');
    lines.push(`top-5 ours   ${fmtTop(top5.ours)}`, `top-5 anchor ${fmtTop(top5.anchor)}`);
    const rows: unknown[] = [];
    const f = (s: Spread, d: number): string => `${s.min.toFixed(d)}/${s.median.toFixed(d)}/${s.max.toFixed(d)}`;
    for (const n of IN_FLIGHT) {
      const r = runs[`in_flight_${n}`];
      const sides = { ours: r.ours, anchor: r.anchor };
      const stats = Object.fromEntries(Object.entries(sides).map(([k, v]) => [k, {
        images_per_s: spread(v.map((x) => x.images_per_s)), p50_ms: spread(v.map((x) => x.p50_ms)), p99_ms: spread(v.map((x) => x.p99_ms)),
      }])) as Record<'ours' | 'anchor', Record<'images_per_s' | 'p50_ms' | 'p99_ms', Spread>>;
      const ratio = (k: 'images_per_s' | 'p50_ms' | 'p99_ms'): number => stats.ours[k].median / stats.anchor[k].median;
      lines.push('', `== ${n} in flight`, `${''.padEnd(8)} ${'images/s'.padEnd(20)} ${'p50 ms'.padEnd(20)} ${'p99 ms'.padEnd(20)}`);
      for (const k of ['ours', 'anchor'] as const) {
        lines.push(`${k.padEnd(8)} ${f(stats[k].images_per_s, 1).padEnd(20)} ${f(stats[k].p50_ms, 1).padEnd(20)} ${f(stats[k].p99_ms, 1).padEnd(20)}`);
      }
      lines.push(`ours ÷ anchor (medians): images/s ×${ratio('images_per_s').toFixed(2)}, p50 ×${ratio('p50_ms').toFixed(2)}, p99 ×${ratio('p99_ms').toFixed(2)}`);
      rows.push({ in_flight: n, ...stats, ratios_ours_over_anchor: { images_per_s: ratio('images_per_s'), p50_ms: ratio('p50_ms'), p99_ms: ratio('p99_ms') }, runs: r });
    }
    lines.push('', `h2load: ours ${r0(runs).ours}; anchor ${r0(runs).anchor}`);
    lines.push(`load average (1 min) at end ${os.loadavg()[0].toFixed(2)} (the run itself keeps both cores busy)`);
    process.stdout.write(`${lines.join('\n')}\n`);
    writeBenchJson('anchor', [{ image: IMAGE, onnx: served.onnxPath, normalize: served.normalize, input_size: served.inputSize, top5 }, ...rows]);
  } finally {
    await anchor?.stop();
    await ours.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The h2load command lines of the last in-flight level, for the record. */
function r0(runs: Record<string, { ours: H2loadResult[]; anchor: H2loadResult[] }>): { ours: string; anchor: string } {
  const last = runs[`in_flight_${IN_FLIGHT[IN_FLIGHT.length - 1]}`];
  return { ours: last.ours[0]?.command.replace(/--log-file \S+ /, '') ?? '', anchor: last.anchor[0]?.command.replace(/--log-file \S+ /, '') ?? '' };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:anchor failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
