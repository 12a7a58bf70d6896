/**
 * The event-loop thread (it reads requests, admits, schedules and writes replies) runs at the process's
 * priority, and every other thread of the process (ONNX Runtime workers and their pools, libuv's pool where
 * sharp decodes, V8's helpers) a few nice levels lower. Under saturation each request wakes the event loop
 * several times; at equal priority every wake-up waited behind a compute thread's time slice, which added
 * ~20 ms to a polite client's calls beside a greedy one (docs/decisions/0028-event-loop-before-compute-threads.md).
 * Raising a priority needs privileges; lowering one does not, so it works in a container with every
 * capability dropped. The scheduler stays work-conserving: alone, the compute threads get every idle core.
 *
 * Linux only (threads are found in /proc/self/task and reniced by thread id); elsewhere it does nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** Threads appear later (libuv's pool on first use, workers, ORT's pools): look again this often. */
const RESCAN_MS = 2000;

export interface ComputeNice {
  /** Threads lowered so far. */
  lowered(): number;
  stop(): void;
}

/**
 * Lowers every thread of this process but the main one to `levels` nice levels below the main thread (at
 * most to 19), now and every RESCAN_MS. 0 = off.
 */
export function lowerComputeThreads(levels: number, o: { taskDir?: string; mainTid?: number; setPriority?: (tid: number, nice: number) => void; getPriority?: (tid: number) => number } = {}): ComputeNice | undefined {
  if (!Number.isInteger(levels) || levels < 0 || levels > 19) throw new Error(`the compute threads' nice offset must be a whole number 0..19, got ${levels}`);
  const taskDir = o.taskDir ?? '/proc/self/task';
  if (levels === 0 || !fs.existsSync(taskDir)) return undefined;
  const mainTid = o.mainTid ?? process.pid;
  const setPriority = o.setPriority ?? ((tid: number, n: number): void => os.setPriority(tid, n));
  const getPriority = o.getPriority ?? ((tid: number): number => os.getPriority(tid));
  const nice = Math.min(19, getPriority(mainTid) + levels);
  const done = new Set<number>();
  const scan = (): void => {
    let tids: number[];
    try {
      tids = fs.readdirSync(taskDir).map(Number).filter((t) => Number.isInteger(t) && t !== mainTid);
    } catch {
      return;
    }
    for (const tid of tids) {
      if (done.has(tid)) continue;
      try {
        // Never raise one that is already lower (an operator's own renice).
        if (getPriority(tid) < nice) setPriority(tid, nice);
        done.add(tid);
      } catch {
        // The thread ended between the listing and the call.
      }
    }
    // Forget ended threads, so a reused id is looked at again.
    for (const tid of done) if (!tids.includes(tid)) done.delete(tid);
  };
  scan();
  const timer = setInterval(scan, RESCAN_MS);
  timer.unref();
  return { lowered: () => done.size, stop: () => clearInterval(timer) };
}
