/**
 * `npm run bench:ort-worker`: the measurement behind the ONNX Runtime worker-mode default
 * (src/backends/onnxruntime.ts, docs/decisions/0002-onnx-runtime-worker-thread.md). For GoogLeNet (synthetic) on onnxruntime, in-thread
 * (INFER_ORT_WORKER=0) and in a worker (INFER_ORT_WORKER=1), alternating, REPS times:
 *   - served images/s under `rtinfer bench --rpc classify -C 4` (closed loop, 224×224 noise JPEGs);
 *   - `rtinfer ping -i 20` RTT p50/p99/max while that classify load runs, and on the idle server.
 * Server and clients are child processes. Writes out/bench-ort-worker-<date>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServerProcess } from '../test/helpers/server-process';
import { writeBenchJson } from './out';

const ROOT = path.join(__dirname, '..', '..');
const RTINFER = path.join(ROOT, 'bin', 'rtinfer.js');
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));


type Json = Record<string, unknown>;
const pct = (s: Json, q: string): number => ((s.rtt as Json).percentiles_ms as Record<string, number>)[q];

function pingArgs(port: number, file: string): string[] {
  return [RTINFER, 'ping', '-t', `127.0.0.1:${port}`, '-c', '200', '-i', '20', '-q', '--json', file];
}

async function runOnce(worker: boolean): Promise<Json> {
  const srv = await startServerProcess(['--backend', 'onnxruntime'], { env: { INFER_ORT_WORKER: worker ? '1' : '0' } });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-worker-'));
  try {
    const idleFile = path.join(tmp, 'idle.json');
    spawnSync(process.execPath, pingArgs(srv.port, idleFile), { encoding: 'utf8' });
    const idle = (JSON.parse(fs.readFileSync(idleFile, 'utf8')) as { summary: Json }).summary;
    const benchFile = path.join(tmp, 'bench.json');
    const pingFile = path.join(tmp, 'ping.json');
    // The classify load runs 8 s; the ping starts 2 s in and lasts 4 s, so it sees only the loaded server.
    const bench = spawn(process.execPath, [RTINFER, 'bench', '-t', `127.0.0.1:${srv.port}`, '--rpc', 'classify', '-C', '4', '-d', '8', '--warmup', '1', '--image-size', '224x224', '--json', benchFile], { stdio: 'ignore' });
    const benchDone = new Promise<void>((r) => bench.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, 3000));
    spawnSync(process.execPath, pingArgs(srv.port, pingFile), { encoding: 'utf8' });
    await benchDone;
    const loaded = (JSON.parse(fs.readFileSync(pingFile, 'utf8')) as { summary: Json }).summary;
    const b = (JSON.parse(fs.readFileSync(benchFile, 'utf8')) as { summary: Json }).summary;
    return {
      mode: worker ? 'worker' : 'in-thread',
      images_per_s: b.images_per_s,
      classify_p50_ms: ((b.latency as Json).percentiles_ms as Record<string, number>).p50,
      ping_idle: { p50: pct(idle, 'p50'), p99: pct(idle, 'p99'), max: (idle.rtt as Json).max_ms },
      ping_loaded: { p50: pct(loaded, 'p50'), p99: pct(loaded, 'p99'), max: (loaded.rtt as Json).max_ms, lost: loaded.lost },
      load_avg: os.loadavg()[0],
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await srv.stop();
  }
}

async function main(): Promise<void> {
  const rows: Json[] = [];
  process.stdout.write('mode        img/s  classify p50  ping idle p50/p99/max   ping under load p50/p99/max  load\n');
  for (let rep = 0; rep < REPS; rep++) {
    for (const worker of [false, true]) {
      const r = await runOnce(worker);
      rows.push(r);
      const pi = r.ping_idle as Record<string, number>;
      const pl = r.ping_loaded as Record<string, number>;
      const f = (x: number): string => x.toFixed(2);
      process.stdout.write(`${String(r.mode).padEnd(10)} ${f(r.images_per_s as number).padStart(6)} ${f(r.classify_p50_ms as number).padStart(12)}  ${`${f(pi.p50)}/${f(pi.p99)}/${f(pi.max)}`.padStart(20)}   ${`${f(pl.p50)}/${f(pl.p99)}/${f(pl.max)}`.padStart(26)}  ${(r.load_avg as number).toFixed(2)}\n`);
    }
  }
  writeBenchJson('ort-worker', rows);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
