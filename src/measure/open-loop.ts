/**
 * Open loop (perf_analyzer's request-rate mode, ghz's --rps): requests leave on a schedule from a Pacer,
 * at most `concurrency` in flight. A request due while every slot is busy waits in a client-side backlog
 * ('queue', its latency still counted from the intended time: no coordinated omission) or is skipped and
 * counted ('drop': a real-time frame source with a bounded window).
 *
 * Between due times it waits with the same precise sleeper as ping (sleep.ts via the phase's timebase),
 * blocking the thread only while nothing is in flight.
 */
import type { Driver, PhaseControl } from './driver';
import type { Pacer } from './pacer';

export type Overflow = 'queue' | 'drop';

export function openLoop(phase: PhaseControl, pacer: Pacer, concurrency: number, overflow: Overflow): Driver {
  const free: number[] = [];
  for (let i = concurrency - 1; i >= 0; i--) free.push(i);
  const backlog: number[] = [];
  let backlogHead = 0;
  /** ended() is sending from the backlog (see there). */
  let draining = false;
  /** Due times taken from the pacer: sent, queued or dropped. */
  let taken = 0;
  let nextDue = pacer.next();
  const idle = (): boolean => phase.inFlight() === 0;

  /** Sends, queues or drops every request whose time has come; false once the phase's limits stop issuing. */
  const sendDue = (): boolean => {
    const now = phase.now();
    while (nextDue <= now && !phase.stopped()) {
      if (nextDue >= phase.durationNs) {
        phase.stop('duration');
        return false;
      }
      if (taken >= phase.requests) {
        phase.stop('requests');
        return false;
      }
      taken++;
      const slot = free.pop();
      if (slot !== undefined) phase.send(slot, nextDue);
      else if (overflow === 'drop') phase.drop();
      else backlog.push(nextDue);
      nextDue = pacer.next();
    }
    return !phase.stopped();
  };

  const pace = async (): Promise<void> => {
    do await phase.sleepUntil(nextDue, idle);
    while (!phase.stopped() && sendDue());
  };

  return {
    start(): void {
      // The first sends happen synchronously, so an issuer that throws fails the phase's promise.
      if (sendDue()) void pace();
    },
    ended(slot): void {
      free.push(slot);
      // A call that ends inside its own send (a transport failing at once, e.g. while reconnecting) comes
      // back here from phase.send: it only frees its slot, and the loop below sends the next backlog entry,
      // so a long backlog drains iteratively instead of recursing once per entry.
      if (draining) return;
      draining = true;
      try {
        while (backlogHead < backlog.length && free.length > 0) phase.send(free.pop()!, backlog[backlogHead++]);
      } finally {
        draining = false;
      }
    },
    waiting: () => backlog.length - backlogHead,
  };
}
