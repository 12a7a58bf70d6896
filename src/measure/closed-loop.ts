/**
 * Closed loop (ghz's and perf_analyzer's concurrency mode): `concurrency` workers, each sending its next
 * request the moment its previous one ends, so exactly that many are in flight until the phase ends.
 * Latency runs from the actual send: a closed loop has no schedule to fall behind.
 */
import type { Driver, PhaseControl } from './driver';

export function closedLoop(phase: PhaseControl, concurrency: number): Driver {
  let issuing = false;
  const next = (slot: number): void => {
    if (phase.stopped()) return;
    if (phase.sentCount() >= phase.requests) {
      phase.stop('requests');
      return;
    }
    issuing = true;
    phase.send(slot);
    issuing = false;
  };
  // Prebuilt so a deferred send allocates no closure.
  const deferredNext = (slot: number): void => next(slot);

  return {
    start(): void {
      const n = Math.min(concurrency, phase.requests);
      if (n === 0) phase.stop('requests');
      for (let w = 0; w < n && !phase.stopped(); w++) next(w);
    },
    ended(slot, endNs): void {
      if (endNs >= phase.durationNs) phase.stop('duration');
      if (phase.stopped()) return;
      // A call that ends inside its own issue() would recurse; hop through the event loop instead.
      if (issuing) setImmediate(deferredNext, slot);
      else next(slot);
    },
    waiting: () => 0,
  };
}
