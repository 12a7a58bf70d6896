/**
 * tfjs's WebAssembly backend (XNNPACK kernels). On Node it is single-threaded: tfjs-backend-wasm hard-codes
 * WASM_HAS_MULTITHREAD_SUPPORT=false under Node (tensorflow/tfjs#3830), and forcing the flag fails because
 * its pthread workers are created from blob: URLs, which Node's Worker rejects (ERR_WORKER_PATH) — measured
 * with tfjs-backend-wasm 4.22 on Node 20. So `threads` is honoured only where the runtime supports it, and
 * the thread count reported is the one the backend actually runs with. SIMD is used when available.
 */
import * as tf from '@tensorflow/tfjs';
import type { TfjsBackendActivation } from './tfjs';

export async function activateTfjsWasm(o: { threads?: number; log?: (msg: string) => void } = {}): Promise<TfjsBackendActivation> {
  const log = o.log ?? (() => {});
  // Loaded on demand: importing registers the backend (with priority over cpu) and its wasm is ~10 MB.
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const [simd, multithread] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') as Promise<boolean>,
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') as Promise<boolean>,
  ]);
  const initialised = tf.findBackend('wasm') !== null;
  if (multithread && o.threads !== undefined && !initialised) wasm.setThreadsCount(o.threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not initialise its wasm backend (see the error printed above)');
  await tf.ready();
  const threads = wasm.getThreadsCount();
  if (!multithread && o.threads !== undefined && o.threads > 1) {
    log(`tfjs-wasm: ${o.threads} threads requested, but tfjs-backend-wasm has no thread support on Node (tfjs#3830); running on 1`);
  }
  const simdText = simd ? 'SIMD' : 'no SIMD';
  log(`tfjs-wasm: @tensorflow/tfjs-backend-wasm ${wasm.version_wasm}, ${simdText}, ${threads} thread${threads === 1 ? '' : 's'}`);
  return {
    tfBackend: 'wasm',
    info: {
      backend: 'wasm',
      library: '@tensorflow/tfjs-backend-wasm',
      version: wasm.version_wasm,
      threads,
      executionProvider: `tfjs-wasm (${simdText}, ${threads} thread${threads === 1 ? '' : 's'}${multithread ? '' : ', no threads on Node'})`,
    },
  };
}
