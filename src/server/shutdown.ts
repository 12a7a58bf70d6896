/**
 * Graceful shutdown: health → NOT_SERVING, stop accepting calls and refuse new images, let in-flight ones
 * (those still being decoded and whatever is queued for a batch) finish for up to the grace period, then
 * cancel what is left, close the metrics port and release the engine. The returned function is safe to call
 * twice (both callers get the same promise).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../backends/engine';
import { realClock, type Batcher, type BatcherClock } from './batcher';
import type { Logger } from './log';

export interface ShutdownParts {
  server: grpc.Server;
  health: { setServing(serving: boolean): void };
  batcher: Batcher;
  engine: Engine;
  metricsEndpoint?: { close(): Promise<void> };
  log: Logger;
  /** Grace period when the caller gives none (--grace-ms). */
  defaultGraceMs: number;
  /** Times the grace period; tests pass the batcher's fake clock. */
  clock?: Pick<BatcherClock, 'setTimeout' | 'clearTimeout'>;
}

export function createShutdown(p: ShutdownParts): (graceMs?: number) => Promise<void> {
  const clock = p.clock ?? realClock;
  let shuttingDown: Promise<void> | undefined;
  return (graceMs = p.defaultGraceMs) => {
    shuttingDown ??= (async () => {
      p.health.setServing(false);
      p.log.info('shutting down: NOT_SERVING, no new calls, finishing in-flight work', { graceMs });
      const drained = new Promise<void>((resolve) => p.server.tryShutdown(() => resolve()));
      let timer: unknown;
      const timedOut = await Promise.race([
        Promise.all([drained, p.batcher.drain()]).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = clock.setTimeout(() => resolve(true), Math.max(0, graceMs));
        }),
      ]);
      clock.clearTimeout(timer);
      if (timedOut) {
        const st = p.batcher.stats();
        p.log.warn('grace period over: cancelling what is left', { decoding: st.decoding, queued: st.queued, inFlightBatches: st.inFlightBatches });
        p.batcher.abortQueued('server shut down before this request ran');
        p.server.forceShutdown();
      }
      await p.metricsEndpoint?.close();
      // A batch may still be inside predict after a forced shutdown; wait for it before freeing the engine.
      await p.batcher.drain();
      await p.engine.dispose();
      p.log.info('stopped', { forced: timedOut });
    })();
    return shuttingDown;
  };
}
