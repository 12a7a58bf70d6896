/**
 * How far V8 lets the event loop's heap grow past what survived the last full collection before it starts
 * the next one. V8 counts buffers allocated outside the heap (every request's bytes) against that room, so
 * with its own choice a loaded server fully marked its heap every 0.4–0.6 s, mostly to find that the code
 * it had loaded was still alive: 5–6 % of a core on V8's helper threads and ~2 % on the event loop. A
 * growing factor of 4 (300 %) brings that down to one collection every several seconds; the room is
 * bounded by the live heap (tens of MB here) and by --max-old-space-size as ever
 * (docs/decisions/0029-heap-growing-factor.md).
 */
import * as v8 from 'node:v8';

/** 300 % = the old generation may reach 4× its live size before a full collection is started. */
export const DEFAULT_HEAP_GROWING_PERCENT = 300;
/** Beyond 10× the live heap the room stops paying and only holds memory. */
export const MAX_HEAP_GROWING_PERCENT = 1000;

/** Whether `n` is a value --heap-growing-percent takes: a whole number 0..MAX_HEAP_GROWING_PERCENT. */
export function isHeapGrowingPercent(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_HEAP_GROWING_PERCENT;
}

/**
 * Sets V8's heap growing factor for the whole process (every isolate: the event loop and the workers);
 * 0 = V8's own heuristics. A process-wide setting, so only an entry point calls it.
 */
export function setHeapGrowingPercent(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): void {
  if (!isHeapGrowingPercent(percent)) {
    throw new Error(`the heap growing percent must be a whole number 0–${MAX_HEAP_GROWING_PERCENT}, got ${percent}`);
  }
  setFlags(`--heap-growing-percent=${percent}`);
}
