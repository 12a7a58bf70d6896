/**
 * Where a server process's CPU goes, by thread, over a window: the event loop (the main thread), the
 * inference threads (named `ort-*` by src/backends/thread-name.ts: the engine's workers and the ONNX Runtime
 * pools they start) and every other thread (libuv's pool, where sharp decodes; V8's helpers: garbage
 * collection and compilation). Read from /proc/<pid>/task/<tid>/stat (utime + stime, clock ticks) before
 * and after; Linux only.
 */
import * as fs from 'node:fs';

export interface ThreadSample {
  /** tid → name and CPU ticks so far. */
  threads: Map<number, { name: string; ticks: number }>;
  atMs: number;
}

export interface ThreadSplit {
  /** Core-% (100 = one core busy for the whole window) by class. */
  event_loop: number;
  inference: number;
  other: number;
  total: number;
  window_s: number;
}

/** USER_HZ: Linux reports task times in 1/100 s on every architecture it runs Node on. */
const TICKS_PER_S = 100;

/** Fields 14 and 15 of a stat line (utime, stime), counted after the ")" that ends the command name. */
export function statTicks(line: string): number {
  const rest = line.slice(line.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable stat line: ${line.slice(0, 80)}`);
  return utime + stime;
}

export function sampleThreads(pid: number, procDir: string = '/proc'): ThreadSample {
  const dir = `${procDir}/${pid}/task`;
  const threads = new Map<number, { name: string; ticks: number }>();
  for (const entry of fs.readdirSync(dir)) {
    const tid = Number(entry);
    if (!Number.isInteger(tid)) continue;
    try {
      const name = fs.readFileSync(`${dir}/${entry}/comm`, 'utf8').trim();
      threads.set(tid, { name, ticks: statTicks(fs.readFileSync(`${dir}/${entry}/stat`, 'utf8')) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return { threads, atMs: Date.now() };
}

/**
 * The split between two samples of process `pid`. A thread that ended in between is missing from `after`
 * and not counted; one that started counts from 0.
 */
export function threadSplit(before: ThreadSample, after: ThreadSample, pid: number): ThreadSplit {
  const windowS = (after.atMs - before.atMs) / 1000;
  const split: ThreadSplit = { event_loop: 0, inference: 0, other: 0, total: 0, window_s: windowS };
  if (windowS <= 0) return split;
  for (const [tid, t] of after.threads) {
    const used = t.ticks - (before.threads.get(tid)?.ticks ?? 0);
    const pct = (used / TICKS_PER_S / windowS) * 100;
    if (tid === pid) split.event_loop += pct;
    else if (t.name.startsWith('ort-')) split.inference += pct;
    else split.other += pct;
    split.total += pct;
  }
  return split;
}

/** Runs `work` and returns its result with the server's split over it. */
export async function withThreadSplit<T>(pid: number | undefined, work: () => Promise<T> | T): Promise<{ result: T; split?: ThreadSplit }> {
  const before = pid !== undefined && fs.existsSync(`/proc/${pid}/task`) ? sampleThreads(pid) : undefined;
  const result = await work();
  if (before === undefined || pid === undefined) return { result };
  return { result, split: threadSplit(before, sampleThreads(pid), pid) };
}
