import { expect } from 'chai';
import { createOwnerRoundRobin } from '../src/server/owner-round-robin';

describe('round robin by owner (batch slots and the decode gate)', () => {
  const ownerOf = (x: { owner: string }): string => x.owner;

  it('serves the owner served least recently, a new owner first, each owner its oldest item', () => {
    const rr = createOwnerRoundRobin(100);
    const items = [
      { owner: 'greedy', n: 1 },
      { owner: 'greedy', n: 2 },
      { owner: 'polite', n: 3 },
    ];
    const order: number[] = [];
    while (items.length > 0) {
      const [it] = items.splice(rr.pick(items, ownerOf), 1);
      rr.served(it.owner, () => new Set<string>());
      order.push(it.n);
      if (it.n === 1) items.push({ owner: 'new', n: 4 });
    }
    // greedy (oldest, nobody served yet), then the never-served polite and new, then greedy's second.
    expect(order).to.deep.equal([1, 3, 4, 2]);
    expect(rr.pick([], ownerOf)).to.equal(-1);
  });

  it('past its limit forgets every owner but those kept, so a greedy owner still waiting keeps its place', () => {
    const rr = createOwnerRoundRobin(2);
    rr.served('greedy', () => new Set<string>());
    rr.served('a', () => new Set<string>());
    rr.served('b', () => new Set(['greedy'])); // 3 > 2: 'a' and 'b' forgotten, 'greedy' kept
    // 'a' now counts as never served, so it goes before 'greedy'; 'greedy' was remembered as served.
    expect(rr.pick([{ owner: 'greedy' }, { owner: 'a' }], ownerOf)).to.equal(1);
  });
});
