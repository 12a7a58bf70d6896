/**
 * Waits until a monotonic time with sub-millisecond precision: a timer (coarse, ≥ 1 ms, often late) until
 * shortly before, then a precise wait for the rest. Ping's probe schedule and the open-loop load driver both
 * wait with it, so they leave on time the same way.
 *
 * The precise part: when `idle()` says nothing is in flight, the thread sleeps in `Atomics.wait` (a futex
 * with a sub-ms timeout: no CPU, no allocation), then spins the last SPIN_MS unless told not to (ping is:
 * PreciseWait.spinMs). Otherwise a reply may arrive
 * at any moment and must be read at once (a blocked thread would inflate its RTT), so the thread stays in
 * the event loop:
 * - with `whenIdle` (ping), it sleeps there: a timer ends the wait at the due time at the latest, and the
 *   caller's last reply, if it comes first, hands over to the precise wait. A probe due while an earlier one
 *   is still out therefore leaves up to a timer tick late (its timer error says so), never early;
 * - without it (the open-loop driver), it polls with setImmediate: every send on time, at the cost of a
 *   busy core while requests are in flight.
 * Polling allocates on every iteration, which made V8 scavenge every few probes, and keeps a core busy; on a
 * loaded machine that slowed the very replies being waited for
 * (docs/decisions/0010-probe-wait-without-garbage.md, 0025-ping-tail-under-cpu-contention.md).
 */
import { performance } from 'node:perf_hooks';

const cell = new Int32Array(new SharedArrayBuffer(4));
/**
 * The futex can wake late and a vCPU woken from idle is slow to get going; ending the wait with a
 * short busy loop (allocation-free) sends on time from a running CPU. The A/B that chose this is in
 * docs/decisions/0010-probe-wait-without-garbage.md. The default; ping waits without it (PreciseWait.spinMs).
 */
const SPIN_MS = 0.2;
/**
 * With nothing in flight, a remainder up to this long is waited for in one blocking sleep (at a 2 ms interval
 * the whole gap after a reply); longer ones first go through a timer.
 */
const BLOCK_MAX_MS = 2.5;
let spinSink = 0;
let blockedMs = 0;

/**
 * Milliseconds this thread has spent blocked or spinning in precise waits, since the process started. The
 * load phase subtracts it from the event loop's busy time: that time is waiting for a send time, not work.
 */
export function preciseWaitMs(): number {
  return blockedMs;
}

/**
 * A caller that can say when its last call in flight has ended registers `wake` (at most one at a time; a
 * later registration replaces it) and calls it once then.
 */
export type WhenIdle = (wake: () => void) => void;

export interface PreciseWait {
  /** See WhenIdle and the file comment. */
  whenIdle?: WhenIdle;
  /**
   * Busy-wait at the end of a blocking wait, ms (default SPIN_MS). Worth it where lateness counts against
   * the measurement (the open-loop driver times requests from their due time); ping times a probe from its
   * actual send and reports lateness apart, and on a shared 2-core machine the spin's CPU cost showed in
   * its tail (docs/decisions/0025-ping-tail-under-cpu-contention.md), so it passes 0.
   */
  spinMs?: number;
  /**
   * Work that may run once per wait, when nothing is in flight, given the ms left before the due time (ping
   * scavenges there: idle-gc.ts). It must return well before then.
   */
  idleWork?: (budgetMs: number) => void;
}

/**
 * Resolves at `monoNs` (process.hrtime.bigint() time), or as soon as `signal` aborts. `idle`: nothing of the
 * caller's is in flight, so the thread may block.
 */
export function sleepUntil(monoNs: bigint, signal?: AbortSignal, idle?: () => boolean, o: PreciseWait = {}): Promise<void> {
  const { whenIdle } = o;
  const spinMs = o.spinMs ?? SPIN_MS;
  // Both clocks are the same monotonic source; read hrtime first, so a preemption between the two reads
  // makes the wait end that much late, never early (read the other way round, a probe could leave before
  // its due time by however long the thread was descheduled).
  const leftNs = monoNs - process.hrtime.bigint();
  const targetMs = performance.now() + Number(leftNs) / 1e6;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    /** A wake-up from whenIdle is still wanted (the timer has not run step first). */
    let waitingForIdle = false;
    /** This wait has already let the event loop read replies once after its time came. */
    let yielded = false;
    let idleWorkDone = o.idleWork === undefined;
    // An abort ends the wait at once and frees the timer, so a cancelled long wait holds nothing open.
    const onAbort = (): void => {
      if (timer) clearTimeout(timer);
      waitingForIdle = false;
      resolve();
    };
    const end = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onIdle = (): void => {
      if (!waitingForIdle) return;
      if (timer) clearTimeout(timer);
      step();
    };
    const step = (): void => {
      timer = undefined;
      waitingForIdle = false;
      if (signal?.aborted) return end();
      let left = targetMs - performance.now();
      const isIdle = idle?.() === true;
      if (isIdle && !idleWorkDone && left > 0) {
        idleWorkDone = true;
        o.idleWork?.(left);
        left = targetMs - performance.now();
      }
      if (left <= 0) {
        // Due (or overdue, after a stall) with replies out: one event-loop turn first, so the replies that
        // arrived meanwhile are read and stamped before this send. Otherwise a client that fell behind sends
        // every overdue probe, back to back in microtasks, before it reads a single reply, and its own
        // burst lands in the RTTs (decision 0025).
        if (!isIdle && whenIdle && !yielded) {
          yielded = true;
          setImmediate(step);
          return;
        }
        return end();
      }
      if (!isIdle && whenIdle) {
        // The caller's last reply, if it comes first, re-runs this step at once (then, idle, a short
        // remainder is one blocking sleep); otherwise the timer ends the wait at the due time at the latest.
        // A timer that fires early (Node's timers count from the loop's cached ms clock) only waits again.
        timer = setTimeout(step, left > 1.5 ? Math.floor(left - 1) : Math.ceil(left));
        waitingForIdle = true;
        whenIdle(onIdle);
        return;
      }
      // Idle, the thread may block for the whole of a short remainder: one wake-up instead of a timer's
      // and then the futex's. Longer waits go back to the event loop (signals, timers, keep-warm).
      if (left > (isIdle ? BLOCK_MAX_MS : 1.5)) timer = setTimeout(step, Math.floor(left - 1));
      else if (isIdle) {
        const from = performance.now();
        if (left > spinMs) Atomics.wait(cell, 0, 0, left - spinMs);
        // The last spinMs on CPU, as grpcio_ping.py does. The clock is read every few µs, not in a tight
        // loop: each performance.now() result can be a fresh heap number, and reading it back to back
        // allocated enough per probe to bring back the scavenges. Without a spin, a futex that returned a
        // hair early sleeps again.
        for (let now = performance.now(); now < targetMs; now = performance.now()) {
          if (spinMs > 0) for (let i = 0; i < 4096; i++) spinSink = (spinSink + i) | 0;
          else Atomics.wait(cell, 0, 0, targetMs - now);
        }
        blockedMs += performance.now() - from;
        end();
      } else setImmediate(step);
    };
    signal?.addEventListener('abort', onAbort);
    step();
  });
}
