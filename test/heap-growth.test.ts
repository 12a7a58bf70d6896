import { expect } from 'chai';
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../src/server/heap-growth';

describe('heap growing factor (decision 0029)', function () {
  it('hands V8 the percent as its flag; 0 gives the choice back to V8', function () {
    const seen: string[] = [];
    setHeapGrowingPercent(DEFAULT_HEAP_GROWING_PERCENT, (f) => seen.push(f));
    setHeapGrowingPercent(0, (f) => seen.push(f));
    expect(seen).to.deep.equal(['--heap-growing-percent=300', '--heap-growing-percent=0']);
  });

  it('refuses what is not a whole number 0..1000 and sets nothing then', function () {
    const seen: string[] = [];
    for (const bad of [-1, 1001, 2.5, Number.NaN]) {
      expect(() => setHeapGrowingPercent(bad, (f) => seen.push(f)), String(bad)).to.throw(/whole number 0–1000/);
    }
    expect(seen).to.deep.equal([]);
  });
});
