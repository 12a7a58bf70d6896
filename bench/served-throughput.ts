/**
 * bench:perf's served-throughput figures for GoogLeNet on ../shared/images/chelsea.jpg (451×300 JPEG):
 * - the CPU-budget limit (bench/cpu-budget.ts), measured before any server runs;
 * - our server (`--backend onnxruntime`, its default plan) driven by h2load with a pre-framed Classify at 8
 *   and at 1 in flight (bench/h2load.ts), so the client costs almost nothing;
 * - the anchor (bench/anchor: Flask + OpenCV DNN, the old design) on the same ONNX file, same image, same
 *   input semantics, driven by h2load --h1 at the same in-flight counts;
 * - `rtinfer bench --client-resize --send tensor -C 8` against our server (the client does the resize);
 * - the same server with one wide session (`--engine-instances 1 --threads <cores> --solo-threads 0
 *   --decode-threads <cores>`: the plan before the CPU sharing plan) at 8 and 1 in flight, for the regression check.
 * Every repetition runs each side once, the order rotating, so a disturbance lands on all of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServerProcess, type ServerProcess } from '../test/helpers/server-process';
import { measureCpuBudget, type CpuBudget } from './cpu-budget';
import { grpcClassifyBody, h2loadAnchor, h2loadClassify, startAnchor, verifyAnchor, verifyGrpcBody } from './h2load';
import { rtinfer, type Json } from './ping-runs';
import { checked, servedFrom } from './served-from';
import { withThreadSplit, type ThreadSplit } from './thread-cpu';

export interface ServedThroughput {
  budget: CpuBudget;
  ours_c8_images_per_s: number[];
  ours_c8_p50_ms: number[];
  /** Our server's CPU by thread class during each C=8 h2load run (bench/thread-cpu.ts); empty off Linux. */
  ours_c8_threads: ThreadSplit[];
  /** The same during each tensor run (the window includes rtinfer's start-up, so read shares, not the total). */
  tensor_c8_threads: ThreadSplit[];
  ours_c1_p50_ms: number[];
  ours_c1_images_per_s: number[];
  anchor_c8_images_per_s: number[];
  anchor_c8_p50_ms: number[];
  anchor_c1_p50_ms: number[];
  anchor_c1_images_per_s: number[];
  tensor_c8_images_per_s: number[];
  tensor_bytes_per_request: number;
  wide_c8_images_per_s: number[];
  wide_c1_p50_ms: number[];
  commands: string[];
}


export async function measureServedThroughput(o: { image: string; reps: number; seconds: number; warmUpS: number; log: (m: string) => void }): Promise<ServedThroughput> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-served-'));
  const bodyFile = path.join(tmp, 'classify-request.grpc');
  fs.writeFileSync(bodyFile, grpcClassifyBody(fs.readFileSync(o.image), 5));
  o.log('served throughput: CPU budget (decode, normalise, single-thread inference, in-process)');
  const budget = await measureCpuBudget(fs.readFileSync(o.image), {});
  const cores = os.availableParallelism();
  const out: ServedThroughput = {
    budget, ours_c8_images_per_s: [], ours_c8_p50_ms: [], ours_c8_threads: [], tensor_c8_threads: [], ours_c1_p50_ms: [], ours_c1_images_per_s: [], anchor_c8_images_per_s: [],
    anchor_c8_p50_ms: [], anchor_c1_p50_ms: [], anchor_c1_images_per_s: [], tensor_c8_images_per_s: [], tensor_bytes_per_request: 0,
    wide_c8_images_per_s: [], wide_c1_p50_ms: [], commands: [],
  };
  let ours: ServerProcess | undefined;
  let wide: ServerProcess | undefined;
  let anchor: Awaited<ReturnType<typeof startAnchor>> | undefined;
  try {
    ours = await startServerProcess(['--backend', 'onnxruntime', '--resize', 'fill', '--metrics-port', '0']);
    const served = servedFrom(ours);
    wide = await startServerProcess(['--backend', 'onnxruntime', '--resize', 'fill', '--metrics-port', '0',
      '--engine-instances', '1', '--threads', String(cores), '--solo-threads', '0', '--decode-threads', String(cores)]);
    const wideMetrics = servedFrom(wide).metricsPort;
    anchor = await startAnchor({ onnxPath: served.onnxPath, normalize: served.normalize, inputSize: served.inputSize, resize: 'fill' });
    await verifyGrpcBody(ours.port, bodyFile);
    await verifyGrpcBody(wide.port, bodyFile);
    await verifyAnchor(anchor.port, o.image);
    const shape = (n: number) => ({ inFlight: n, durationS: o.seconds, warmUpS: o.warmUpS });
    const o8 = ours;
    const w8 = wide;
    const a8 = anchor;
    const sides: Array<{ name: string; run: () => Promise<void> }> = [
      { name: 'ours C=8', run: async () => {
        const { result, split } = await withThreadSplit(o8.child.pid, () => h2loadClassify({ ...shape(8), port: o8.port, bodyFile, metricsPort: served.metricsPort }));
        const r = checked('ours', result, 8);
        if (split) out.ours_c8_threads.push(split);
        out.ours_c8_images_per_s.push(r.images_per_s);
        out.ours_c8_p50_ms.push(r.p50_ms);
        out.commands.push(r.command);
      } },
      { name: 'ours C=1', run: async () => {
        const r = checked('ours', await h2loadClassify({ ...shape(1), port: o8.port, bodyFile, metricsPort: served.metricsPort }), 1);
        out.ours_c1_p50_ms.push(r.p50_ms);
        out.ours_c1_images_per_s.push(r.images_per_s);
      } },
      { name: 'anchor C=8', run: async () => {
        const r = checked('anchor', await h2loadAnchor({ ...shape(8), port: a8.port, imageFile: o.image }), 8);
        out.anchor_c8_images_per_s.push(r.images_per_s);
        out.anchor_c8_p50_ms.push(r.p50_ms);
        out.commands.push(r.command);
      } },
      { name: 'anchor C=1', run: async () => {
        const r = checked('anchor', await h2loadAnchor({ ...shape(1), port: a8.port, imageFile: o.image }), 1);
        out.anchor_c1_p50_ms.push(r.p50_ms);
        out.anchor_c1_images_per_s.push(r.images_per_s);
      } },
      { name: 'tensor C=8', run: async () => {
        const { result, split } = await withThreadSplit(o8.child.pid, () => rtinfer(['bench', '-t', `127.0.0.1:${o8.port}`, '--rpc', 'classify', '-C', '8',
          '-d', String(o.seconds), '--warmup', String(o.warmUpS), '--images', o.image, '--client-resize', '--send', 'tensor', '--no-path']));
        if (split) out.tensor_c8_threads.push(split);
        const s = result.summary as Json;
        if ((s.errors as number) > 0) throw new Error(`rtinfer bench --send tensor had ${String(s.errors)} errors`);
        out.tensor_c8_images_per_s.push(s.images_per_s as number);
        out.tensor_bytes_per_request = (s.request as Json).bytes_per_request as number;
      } },
      { name: 'one wide session C=8', run: async () => {
        const r = checked('wide', await h2loadClassify({ ...shape(8), port: w8.port, bodyFile, metricsPort: wideMetrics }), 8);
        out.wide_c8_images_per_s.push(r.images_per_s);
      } },
      { name: 'one wide session C=1', run: async () => {
        const r = checked('wide', await h2loadClassify({ ...shape(1), port: w8.port, bodyFile, metricsPort: wideMetrics }), 1);
        out.wide_c1_p50_ms.push(r.p50_ms);
      } },
    ];
    for (let rep = 0; rep < o.reps; rep++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(k + rep) % sides.length];
        o.log(`served throughput: repetition ${rep + 1}/${o.reps}, ${side.name}`);
        await side.run();
      }
    }
    return out;
  } finally {
    await anchor?.stop();
    await ours?.stop();
    await wide?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
