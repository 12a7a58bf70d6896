/**
 * At most `limit` holders at once, and waiters let in round robin by owner (the owner let in least
 * recently first, FIFO within an owner). The decoder runs on libuv's thread pool, whose queue is FIFO: a
 * client with 32 images decoding would otherwise put every other client's image behind all 32. With the
 * gate no wider than the pool, nothing queues inside libuv and the order is decided here.
 */
import { createOwnerRoundRobin } from './owner-round-robin';

export interface FairGate {
  /** Resolves with the function that gives the slot back (call it exactly once). */
  acquire(owner: string): Promise<() => void>;
  /** Holders now and waiters now. */
  stats(): { active: number; waiting: number };
}

/** Owners remembered beyond those waiting (the batcher keeps the same number). */
const LAST_LET_IN_LIMIT = 4096;

export function createFairGate(limit: number): FairGate {
  const width = Math.max(1, Math.floor(limit));
  let active = 0;
  const waiting: Array<{ owner: string; go: () => void }> = [];
  const turns = createOwnerRoundRobin(LAST_LET_IN_LIMIT);
  const ownerOf = (w: { owner: string }): string => w.owner;
  const waitingOwners = (): Set<string> => new Set(waiting.map(ownerOf));

  const letIn = (owner: string): (() => void) => {
    active++;
    turns.served(owner, waitingOwners);
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
      const [w] = waiting.splice(turns.pick(waiting, ownerOf), 1);
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
