/**
 * Round robin by owner (a client connection): of the items waiting, the next goes to the owner served least
 * recently (one never served first), and of that owner's items to its oldest. The batcher picks batch
 * slots with it and the decode gate picks who decodes next, so both share one notion of whose turn it is.
 */
export interface OwnerRoundRobin {
  /** Index in `items` (oldest first) of the next pick; -1 when `items` is empty. */
  pick<T>(items: readonly T[], ownerOf: (item: T) => string): number;
  /**
   * Records that `owner` was just served. Owners are remembered after they stop waiting, so a greedy one
   * whose queue empties for a moment does not count as new; past `limit` owners, all but those in
   * `keep()` (asked only then) are forgotten.
   */
  served(owner: string, keep: () => { has(owner: string): boolean }): void;
}

export function createOwnerRoundRobin(limit: number): OwnerRoundRobin {
  const lastServed = new Map<string, number>();
  let counter = 0;
  return {
    pick(items, ownerOf) {
      let best = -1;
      let bestServed = Infinity;
      const seen = new Set<string>();
      for (let i = 0; i < items.length; i++) {
        const owner = ownerOf(items[i]);
        if (seen.has(owner)) continue; // only each owner's oldest item competes
        seen.add(owner);
        const at = lastServed.get(owner) ?? -1;
        if (at < bestServed) {
          bestServed = at;
          best = i;
        }
      }
      return best;
    },
    served(owner, keep) {
      lastServed.set(owner, counter++);
      if (lastServed.size <= limit) return;
      const kept = keep();
      for (const k of lastServed.keys()) if (!kept.has(k)) lastServed.delete(k);
    },
  };
}
