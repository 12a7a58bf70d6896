/**
 * Worker-thread side of the ONNX Runtime engine. onnxruntime-node's session.run executes synchronously on the
 * calling JS thread, so on the main thread every inference would freeze gRPC I/O, timers and health checks for
 * its whole duration; here it freezes only this worker.
 *
 * Protocol: workerData = { model, spec }; the worker posts { type: 'ready', inputShape, numClasses } or
 * { type: 'fatal', message }; then for each { id, batch, n } it posts { id, out } (out's buffer transferred)
 * or { id, error }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage, openSession, type SessionSpec } from './onnx-session';
import { nameThisThread } from './thread-name';

export interface WorkerInit {
  model: Uint8Array | string;
  spec: SessionSpec;
  /** The thread's name as `top -H` shows it (thread-name.ts). */
  name: string;
}
export interface RunRequest {
  id: number;
  batch: Float32Array;
  n: number;
}
export type WorkerReply =
  | { type: 'ready'; inputShape: [number, number, number]; numClasses: number }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; out: Float32Array }
  | { type: 'error'; id: number; message: string };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('onnx-worker must run as a worker thread');
  const init = workerData as WorkerInit;
  nameThisThread(init.name);
  let session;
  try {
    session = await openSession(init.model, init.spec);
  } catch (e) {
    port.postMessage({ type: 'fatal', message: errorMessage(e) } satisfies WorkerReply);
    return;
  }
  const s = session;
  port.on('message', (req: RunRequest | 'close') => {
    if (req === 'close') {
      void s.release().finally(() => port.close());
      return;
    }
    s.run(req.batch, req.n).then(
      (out) => {
        // Transfer, not copy: ORT hands back a fresh buffer per run. A view into a larger buffer is sliced first.
        const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice();
        port.postMessage({ type: 'result', id: req.id, out: own } satisfies WorkerReply, [own.buffer as ArrayBuffer]);
      },
      (e: unknown) => port.postMessage({ type: 'error', id: req.id, message: errorMessage(e) } satisfies WorkerReply),
    );
  });
  port.postMessage({ type: 'ready', inputShape: s.inputShape, numClasses: s.numClasses } satisfies WorkerReply);
}

void main();
