/**
 * `node dist/bench/batching.js [backend…]`: the measurement behind the per-backend batching defaults
 * (src/server/options.ts). For each backend (default: onnxruntime wasm), GoogLeNet (synthetic), every
 * --max-batch in 1,2,4,8 × --max-queue-delay-us in 0,500,2000: start the server (child process), run
 * `rtinfer bench --rpc classify` closed loop at concurrency 8 (enough to keep any batch size full), and
 * print served images/s, p50/p99 latency and the mean batch size the server reported. Writes
 * out/bench-batching-<date>.json. One repetition per cell (the full grid already takes ~3 minutes on 2 cores);
 * the 1-minute load average is printed with every row.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';
import { writeBenchJson } from './out';

const ROOT = path.join(__dirname, '..', '..');
const RTINFER = path.join(ROOT, 'bin', 'rtinfer.js');


async function main(): Promise<void> {
  const backends = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['onnxruntime', 'wasm'];
  const rows: Array<Record<string, unknown>> = [];
  process.stdout.write(`batching grid, GoogLeNet synthetic, closed loop C=8, ${os.availableParallelism()} cpus, node ${process.version}\n`);
  process.stdout.write('backend      max-batch delay-us   img/s   p50 ms   p99 ms  mean batch  load\n');
  for (const backend of backends) {
    const seconds = backend === 'wasm' ? 6 : 4;
    for (const maxBatch of [1, 2, 4, 8]) {
      for (const delay of [0, 500, 2000]) {
        const srv = await startServerProcess(['--backend', backend, '--max-batch', String(maxBatch), '--max-queue-delay-us', String(delay)]);
        const file = path.join(os.tmpdir(), `bench-batching-${process.pid}.json`);
        try {
          const r = spawnSync(process.execPath, [RTINFER, 'bench', '-t', `127.0.0.1:${srv.port}`, '--rpc', 'classify', '-C', '8', '-d', String(seconds), '--warmup', '1.5', '--image-size', '224x224', '--json', file], { encoding: 'utf8' });
          if (r.status !== 0 && r.status !== 4) throw new Error(`rtinfer bench failed: ${r.stderr}`);
          const s = (JSON.parse(fs.readFileSync(file, 'utf8')) as { summary: Record<string, unknown> }).summary;
          const lat = s.latency as { percentiles_ms: Record<string, number> };
          const st = s.server_timing as { mean_batch_size?: number } | undefined;
          const row = { backend, maxBatch, delayUs: delay, imagesPerS: s.images_per_s as number, p50: lat.percentiles_ms.p50, p99: lat.percentiles_ms.p99, meanBatch: st?.mean_batch_size ?? 0, load: os.loadavg()[0], errors: s.errors };
          rows.push(row);
          process.stdout.write(`${backend.padEnd(12)} ${String(maxBatch).padStart(9)} ${String(delay).padStart(8)} ${row.imagesPerS.toFixed(1).padStart(7)} ${row.p50.toFixed(1).padStart(8)} ${row.p99.toFixed(1).padStart(8)} ${row.meanBatch.toFixed(2).padStart(11)}  ${row.load.toFixed(2)}\n`);
        } finally {
          fs.rmSync(file, { force: true });
          await srv.stop();
        }
      }
    }
  }
  writeBenchJson('batching', rows);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
