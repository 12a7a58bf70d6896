/**
 * `npm run bench:web-stalled` (node dist/bench/web-stalled-uploads.js): what clients that stall mid-upload
 * make the web port hold (docs/decisions/0030). A server process with --web-port (the workspace's MobileNet
 * when ../shared has it, else the built-in GoogLeNet; the calls never reach the model), then UPLOADS HTTP/1.1
 * connections, 50 ms apart, each declaring an 8 MiB request and sending 6 MiB of it; 4 s later the server's
 * RSS against its RSS before, and how many were refused (HTTP 429). Run once with the default
 * --max-pending-bytes and once with it out of reach (1e15), in turn, ROUNDS times. Writes
 * out/bench-web-stalled-<date>.json.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { startServerProcess } from '../test/helpers/server-process';
import { MOBILENET_JSON, SHARED_DIR } from '../test/helpers/fixtures';
import { writeBenchJson } from './out';

const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DECLARED = 8 * 1024 * 1024;
const SENT = 6 * 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Held {
  budget: string;
  uploads: number;
  refused: number;
  rss_before_mib: number;
  rss_held_mib: number;
}

async function measure(budget: string | undefined): Promise<Held> {
  const model = fs.existsSync(`${SHARED_DIR}/${MOBILENET_JSON}`) ? ['--model', `${SHARED_DIR}/${MOBILENET_JSON}`, '--normalize', 'signed'] : [];
  const srv = await startServerProcess(['--web-port', '0', ...model, ...(budget ? ['--max-pending-bytes', budget] : [])]);
  const sockets: net.Socket[] = [];
  try {
    const line = srv.lines.find((l) => String(l.msg).startsWith('web port'));
    const port = Number(/:(\d+)$/.exec(String(line?.address))?.[1]);
    if (!Number.isInteger(port)) throw new Error('the server did not log its web port');
    await sleep(3000);
    const pid = srv.child.pid!;
    const before = rssMiB(pid);
    let refused = 0;
    const body = Buffer.alloc(SENT, 0x41);
    for (let i = 0; i < UPLOADS; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.once('data', (d: Buffer) => {
        if (/^HTTP\/1\.1 429 /.test(d.toString('latin1'))) refused++;
      });
      s.write(`POST /inference.v1.InferenceService/Ping HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/proto\r\ncontent-length: ${DECLARED}\r\n\r\n`);
      s.write(body);
      sockets.push(s);
      await sleep(50);
    }
    await sleep(4000);
    return { budget: budget ?? 'default (64 MiB)', uploads: UPLOADS, refused, rss_before_mib: Math.round(before), rss_held_mib: Math.round(rssMiB(pid)) };
  } finally {
    for (const s of sockets) s.destroy();
    await srv.stop();
  }
}

async function main(): Promise<void> {
  const results: Held[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const budget of [undefined, '1e15']) {
      const h = await measure(budget);
      results.push(h);
      process.stdout.write(`--max-pending-bytes ${h.budget.padEnd(16)} ${h.uploads} stalled uploads: ${String(h.refused).padStart(2)} refused, server RSS ${h.rss_before_mib} → ${h.rss_held_mib} MiB (+${h.rss_held_mib - h.rss_before_mib})\n`);
    }
  }
  writeBenchJson('web-stalled', results);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`web-stalled: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
