/**
 * Thread names for the engine's own threads. Node gives every thread the process's name ("node"), so
 * `top -H`, `ps -L` and a profiler cannot tell an inference worker from the event loop or a GC helper; a
 * name makes "which thread costs what" answerable with the system's own tools (and bench:perf's split of
 * the server's CPU, bench/thread-cpu.ts, reads it).
 */
import * as fs from 'node:fs';

/** Linux keeps at most 15 bytes of a thread name. */
export const THREAD_NAME_MAX = 15;

/**
 * Names the calling thread (Linux: /proc/thread-self/comm). Returns false where that is not possible
 * (another OS, /proc not mounted): a name is a convenience, never a reason to fail.
 */
export function nameThisThread(name: string, commFile: string = '/proc/thread-self/comm'): boolean {
  const ascii = name.replace(/[^\x21-\x7e]/g, '_').slice(0, THREAD_NAME_MAX);
  if (ascii.length === 0) return false;
  try {
    fs.writeFileSync(commFile, ascii);
    return true;
  } catch {
    return false;
  }
}
