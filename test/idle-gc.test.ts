/**
 * Ping's idle-time scavenges (src/measure/idle-gc.ts): a collection runs only when nothing is in flight, the
 * new space is due for one and the expected pause fits before the next send; the precise wait offers that
 * moment once per wait (docs/decisions/0027-scavenge-between-probes.md). Fake heap, clock and collector, so
 * nothing depends on when V8 itself collects.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { expect } from 'chai';
import { createIdleGc } from '../src/measure/idle-gc';
import { sleepUntil } from '../src/measure/sleep';

/** A fake heap at `fill` (1 = a collection is due) and a collector that takes `costMs` on a fake clock. */
function fakeHeap(costMs: number[]): { fill: number; collected: number; gc: ReturnType<typeof createIdleGc> } {
  const h = { fill: 0, collected: 0, gc: undefined as ReturnType<typeof createIdleGc> };
  let t = 0;
  h.gc = createIdleGc({
    fill: () => h.fill,
    clock: () => t,
    collect: () => {
      t += costMs[Math.min(h.collected, costMs.length - 1)];
      h.collected++;
      h.fill = 0;
    },
  });
  return h;
}

describe('idle-time scavenges between ping probes', () => {
  it('collects only when the new space is due for it', () => {
    const h = fakeHeap([0.2]);
    h.fill = 0.9;
    h.gc!.run(10);
    expect(h.collected).to.equal(0);
    h.fill = 1;
    h.gc!.run(10);
    expect(h.collected).to.equal(1);
    expect(h.gc!.stats()).to.deep.equal({ collections: 1, total_ms: 0.2, max_ms: 0.2 });
  });

  it('skips a collection whose expected pause does not fit before the next send, and learns the pause', () => {
    const h = fakeHeap([2, 0.2]);
    h.fill = 1;
    h.gc!.run(0.5);
    expect(h.collected, 'the first guess (0.5 ms) plus the margin does not fit 0.5 ms').to.equal(0);
    h.gc!.run(1);
    expect(h.collected).to.equal(1);
    h.fill = 1;
    h.gc!.run(2);
    expect(h.collected, 'one 2 ms pause raises the bar at once').to.equal(1);
    h.gc!.run(2.5);
    expect(h.collected).to.equal(2);
    expect(h.gc!.stats().max_ms).to.equal(2);
  });

  it('after a slow pause, skipped due collections lower the bar again, so a short interval gets them back', () => {
    const h = fakeHeap([3, 0.3]);
    h.fill = 1;
    h.gc!.run(10);
    expect(h.collected).to.equal(1);
    h.fill = 1;
    let skipped = 0;
    while (h.collected === 1 && skipped < 100) {
      h.gc!.run(1.5);
      if (h.collected === 1) skipped++;
    }
    expect(h.collected, 'a 1.5 ms gap gets a collection again').to.equal(2);
    expect(skipped).to.be.within(1, 30);
    h.fill = 0.5;
    h.gc!.run(0.1);
    expect(h.collected, 'not due: nothing to do, and the bar is not lowered').to.equal(2);
  });

  it('is off where the runtime reports no new space', () => {
    expect(createIdleGc({ fill: () => undefined, collect: () => undefined })).to.equal(undefined);
  });

  it('with the real V8 heap: this Node offers it, and a due collection is one V8 minor GC', async () => {
    expect(createIdleGc(), 'this Node offers a minor GC and a new-space figure').to.not.equal(undefined);
    // Due by decree (how full the new space is at this moment depends on the whole test run); the collector
    // is the real one, and V8 reports each collection it runs.
    const gc = createIdleGc({ fill: () => 1 })!;
    const kinds: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
    });
    obs.observe({ entryTypes: ['gc'] });
    try {
      gc.run(1000);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      obs.disconnect();
    }
    expect(gc.stats().collections).to.equal(1);
    expect(kinds, 'a minor (scavenge) collection').to.include(constants.NODE_PERFORMANCE_GC_MINOR);
  });

  it('the precise wait offers idle time once per wait, with the time left, and never with a call in flight', async () => {
    const budgets: number[] = [];
    const idleWork = (ms: number): void => void budgets.push(ms);
    await sleepUntil(process.hrtime.bigint() + 5_000_000n, undefined, () => true, { spinMs: 0, idleWork });
    expect(budgets).to.have.length(1);
    expect(budgets[0]).to.be.greaterThan(0).and.at.most(5);

    budgets.length = 0;
    let inFlight = true;
    let wake: (() => void) | undefined;
    const wait = sleepUntil(process.hrtime.bigint() + 30_000_000n, undefined, () => !inFlight, {
      spinMs: 0, idleWork, whenIdle: (w) => void (wake = w),
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(budgets, 'nothing while the call is out').to.have.length(0);
    inFlight = false;
    wake?.();
    await wait;
    expect(budgets).to.have.length(1);
    expect(budgets[0]).to.be.lessThan(30);
  });
});
