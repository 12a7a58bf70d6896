/**
 * Graceful shutdown, in this order:
 * 1. health → NOT_SERVING, and calls are still taken for the drain delay (--drain-delay-ms), so a load
 *    balancer's active check sees NOT_SERVING and stops sending before anything is refused;
 * 2. health Watch streams end; open ClassifyStreams stop reading, answer every frame they read and end
 *    (stopStreams); the listener closes and connections get GOAWAY (new calls are refused by HTTP/2, which a
 *    client may retry elsewhere); the batcher refuses images not yet admitted;
 * 3. work already admitted (being decoded or queued for a batch) finishes, for up to the grace period;
 * 4. past it, what is still queued gets UNAVAILABLE, and those answers get a moment to leave before the
 *    remaining connections are closed;
 * 5. the metrics port closes and the engine is released once no batch runs on it.
 * The returned function is safe to call twice (both callers get the same promise).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../backends/engine';
import { realClock, type Batcher, type BatcherClock } from './batcher';
import type { Logger } from './log';

/** After the grace period: how long UNAVAILABLE answers get to be written before connections close. */
export const FLUSH_MS = 1000;

export interface ShutdownParts {
  server: grpc.Server;
  health: { setServing(serving: boolean): void; close?(): void };
  batcher: Batcher;
  engine: Engine;
  metricsEndpoint?: { close(): Promise<void> };
  /** The web port (web.ts): it stops taking requests with the gRPC listener; its calls get the same grace. */
  web?: { close(graceMs: number): Promise<void> };
  /** Makes open streams stop reading and end once their answers are written (service.ts). */
  stopStreams?: () => void;
  log: Logger;
  /** Grace period when the caller gives none (--grace-ms). */
  defaultGraceMs: number;
  /** --drain-delay-ms; default 0. */
  drainDelayMs?: number;
  /** Times the drain delay and the grace period; tests pass the batcher's fake clock. */
  clock?: Pick<BatcherClock, 'setTimeout' | 'clearTimeout'>;
}

export function createShutdown(p: ShutdownParts): (graceMs?: number) => Promise<void> {
  const clock = p.clock ?? realClock;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(resolve, Math.max(0, ms)));
  let shuttingDown: Promise<void> | undefined;
  return (graceMs = p.defaultGraceMs) => {
    shuttingDown ??= (async () => {
      p.health.setServing(false);
      const drainDelayMs = p.drainDelayMs ?? 0;
      if (drainDelayMs > 0) {
        p.log.info('shutting down: NOT_SERVING, still taking calls while load balancers notice', { drainDelayMs });
        await sleep(drainDelayMs);
      }
      p.log.info('shutting down: no new calls, finishing in-flight work', { graceMs });
      p.health.close?.();
      p.stopStreams?.();
      const drained = new Promise<void>((resolve) => p.server.tryShutdown(() => resolve()));
      const webClosed = p.web?.close(Math.max(0, graceMs) + FLUSH_MS);
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
        // The refusals are answers too: let them leave before the connections close.
        let flushTimer: unknown;
        await Promise.race([drained, new Promise<void>((resolve) => (flushTimer = clock.setTimeout(resolve, FLUSH_MS)))]);
        clock.clearTimeout(flushTimer);
        p.server.forceShutdown();
      }
      await webClosed;
      await p.metricsEndpoint?.close();
      // A batch may still be inside predict after a forced shutdown; wait for it before freeing the engine.
      await p.batcher.drain();
      await p.engine.dispose();
      p.log.info('stopped', { forced: timedOut });
    })();
    return shuttingDown;
  };
}
