/**
 * At most `limit` holders at once, and waiters let in round robin by owner (the owner let in least
 * recently first, FIFO within an owner). The decoder runs on libuv's thread pool, whose queue is FIFO: a
 * client with 32 images decoding would otherwise put every other client's image behind all 32. With the
 * gate no wider than the pool, nothing queues inside libuv and the order is decided here.
 */
export interface FairGate {
  /** Resolves with the function that gives the slot back (call it exactly once). */
  acquire(owner: string): Promise<() => void>;
  /** Holders now and waiters now. */
  stats(): { active: number; waiting: number };
}

/** Owners remembered beyond those waiting (see batcher.ts's lastServed for the same rule). */
const LAST_LET_IN_LIMIT = 4096;

export function createFairGate(limit: number): FairGate {
  const width = Math.max(1, Math.floor(limit));
  let active = 0;
  let counter = 0;
  const waiting: Array<{ owner: string; go: () => void }> = [];
  const lastLetIn = new Map<string, number>();

  const letIn = (owner: string): (() => void) => {
    active++;
    lastLetIn.set(owner, counter++);
    if (lastLetIn.size > LAST_LET_IN_LIMIT) {
      const waitingOwners = new Set(waiting.map((w) => w.owner));
      for (const k of lastLetIn.keys()) if (!waitingOwners.has(k)) lastLetIn.delete(k);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      next();
    };
  };

  const next = (): void => {
    while (active < width && waiting.length > 0) {
      let best = 0;
      let bestAt = Infinity;
      const seen = new Set<string>();
      for (let i = 0; i < waiting.length; i++) {
        const o = waiting[i].owner;
        if (seen.has(o)) continue;
        seen.add(o);
        const at = lastLetIn.get(o) ?? -1;
        if (at < bestAt) {
          bestAt = at;
          best = i;
        }
      }
      const [w] = waiting.splice(best, 1);
      w.go();
    }
  };

  return {
    acquire(owner) {
      if (active < width && waiting.length === 0) return Promise.resolve(letIn(owner));
      return new Promise((resolve) => waiting.push({ owner, go: () => resolve(letIn(owner)) }));
    },
    stats: () => ({ active, waiting: waiting.length }),
  };
}
