/** tfjs's plain-JavaScript backend: always available, single-threaded, the slowest; the last resort. */
import * as tf from '@tensorflow/tfjs';
import type { TfjsBackendActivation } from './tfjs';

/**
 * The cpu backend prints a multi-line "install tfjs-node" banner to stderr on its first tensor write, which
 * breaks structured logs and is misleading here (selection already explains the faster engines). Trigger
 * that first write with tfjs's PROD flag briefly on, so only this banner is suppressed, not later warnings.
 */
function silenceFirstUseBanner(): void {
  const wasProd = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    tf.tensor1d([0]).dispose();
  } finally {
    tf.env().set('PROD', wasProd);
  }
}

export async function activateTfjsCpu(o: { log?: (msg: string) => void } = {}): Promise<TfjsBackendActivation> {
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs could not initialise its cpu backend');
  await tf.ready();
  silenceFirstUseBanner();
  const version = (tf.version as Record<string, string>)['tfjs-backend-cpu'] ?? tf.version_core;
  o.log?.(`tfjs-cpu: @tensorflow/tfjs-backend-cpu ${version}, plain JavaScript on the main thread`);
  return {
    tfBackend: 'cpu',
    info: {
      backend: 'cpu',
      library: '@tensorflow/tfjs-backend-cpu',
      version,
      // JavaScript kernels run on the event-loop thread: exactly one.
      threads: 1,
      executionProvider: 'tfjs-cpu (plain JS, 1 thread)',
    },
  };
}
