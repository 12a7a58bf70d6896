/**
 * The anchor (bench/anchor/flask_opencv_server.py: Flask + OpenCV DNN, the design this project replaces) as a
 * child process: started on a free 127.0.0.1 port, ready once it answers GET /healthz, stopped with its whole
 * process group. It runs on Debian's /usr/bin/python3 (python3-flask, python3-opencv), or $PYTHON.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Normalize } from '../../src/models/model';

const ROOT = path.join(__dirname, '..', '..', '..');
/** The script lives in the source tree (tsc copies no .py into dist). */
export const ANCHOR_SCRIPT = path.join(ROOT, 'bench', 'anchor', 'flask_opencv_server.py');
export const ANCHOR_PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export interface AnchorOptions {
  /** The .onnx file our server serves (NHWC float input). */
  onnxPath: string;
  normalize: Normalize;
  /** Square input size of the graph (224 for GoogLeNet). */
  inputSize: number;
  /** Default 'fill', our server's default. */
  resize?: 'fill' | 'crop';
  /** One label per line; without it the anchor answers "class N". */
  labelsFile?: string;
  /** One net behind a lock instead of one net per concurrent request (the anchor's default). */
  sharedNet?: boolean;
  /** How long loading the model may take before we give up. Default 60 s. */
  timeoutMs?: number;
}

export interface AnchorServer {
  port: number;
  /** Everything the anchor wrote to stderr so far (the last 8 KB). */
  stderr(): string;
  /** SIGTERM to the anchor's process group, SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Why the anchor cannot run here (python, flask or cv2 missing), or undefined when it can. */
export function anchorUnavailable(python: string = ANCHOR_PYTHON): string | undefined {
  const r = spawnSync(python, ['-c', 'import cv2, flask'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return `${python} cannot run (${r.error.message}); apt-get install python3-flask python3-opencv`;
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').pop() ?? '';
    return `${python} lacks flask or cv2 (${last}); apt-get install python3-flask python3-opencv`;
  }
  return undefined;
}

/** Anchors still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export async function startAnchor(o: AnchorOptions): Promise<AnchorServer> {
  const args = [ANCHOR_SCRIPT, o.onnxPath, '--input-size', String(o.inputSize), '--normalize', o.normalize,
    '--resize', o.resize ?? 'fill', '--port', '0'];
  if (o.labelsFile) args.push('--labels', o.labelsFile);
  if (o.sharedNet) args.push('--shared-net');
  // Its own process group, so stop() reaches anything it may have started.
  const child = spawn(ANCHOR_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    live.delete(child);
    resolve();
  }));
  const stop = async (): Promise<void> => {
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    const port = await readyPort(child, o.timeoutMs ?? 60_000, () => err);
    await waitUntilAnswers(port, 10_000);
    return { port, stderr: () => err, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The port from the anchor's {"msg": "ready", "port": N} line on stdout. */
function readyPort(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new Error(`anchor not ready within ${timeoutMs} ms:\n${stderr()}`)), timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      done(new Error(`anchor exited (${code ?? signal}) before it was ready:\n${stderr()}`));
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'ready' && typeof rec.port === 'number') return done(undefined, rec.port);
        } catch {
          // a partial line; wait for the rest
        }
      }
    };
    function done(e: Error | undefined, port?: number): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // keep draining whatever it prints later
      if (e) reject(e);
      else resolve(port as number);
    }
    child.once('exit', onExit);
    child.stdout!.on('data', onData);
  });
}

async function waitUntilAnswers(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`anchor on port ${port} did not answer /healthz within ${timeoutMs} ms (${last})`);
}
