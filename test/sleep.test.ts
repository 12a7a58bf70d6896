/**
 * The precise wait (src/measure/sleep.ts) as ping uses it: never over before its time, and while one of the
 * caller's calls is in flight it sleeps in the event loop instead of polling, handing over to the blocking
 * wait when the caller says its last call ended (docs/decisions/0025-ping-tail-under-cpu-contention.md).
 * No timing bounds beyond "not early": how late a wait ends on a busy machine is the fidelity suite's business.
 */
import { expect } from 'chai';
import { sleepUntil, type WhenIdle } from '../src/measure/sleep';

const MS = 1_000_000n;
const now = (): bigint => process.hrtime.bigint();

/** A caller with `inFlight` calls out, counting how often the wait asks whether it is idle. */
function caller(inFlight: number): { idle: () => boolean; whenIdle: WhenIdle; asked: () => number; end: () => void } {
  let asked = 0;
  let wake: (() => void) | undefined;
  return {
    idle: () => {
      asked++;
      return inFlight === 0;
    },
    whenIdle: (w) => {
      wake = w;
    },
    asked: () => asked,
    end: () => {
      inFlight--;
      const w = wake;
      wake = undefined;
      if (inFlight === 0) w?.();
    },
  };
}

describe('sleepUntil: the precise wait ping sends its probes with', () => {
  it('with nothing in flight, ends at or after its time, spinning at the end or not', async () => {
    for (const spinMs of [undefined, 0]) {
      for (const ms of [0.05, 0.3, 1, 2, 4]) {
        const at = now() + BigInt(Math.round(ms * 1e6));
        await sleepUntil(at, undefined, () => true, { spinMs });
        expect(now() >= at, `${ms} ms, spin ${spinMs}`).to.equal(true);
      }
    }
  });

  it('with a call in flight to the end, ends at or after its time, woken by its timer, without polling', async () => {
    const c = caller(1);
    const at = now() + 10n * MS;
    await sleepUntil(at, undefined, c.idle, { whenIdle: c.whenIdle, spinMs: 0 });
    expect(now() >= at).to.equal(true);
    // Polling would ask once per event-loop turn (hundreds of times in the last 1.5 ms); a sleeping wait
    // asks when its timers fire: a handful of times.
    expect(c.asked()).to.be.at.most(6);
  });

  it('a call that ends before the time hands over to the blocking wait, which still ends no sooner than its time', async () => {
    const c = caller(1);
    const at = now() + 6n * MS;
    // The reply: 5 ms from now, inside the last 1.5 ms, while the wait sleeps in the event loop.
    const reply = setTimeout(c.end, 5);
    await sleepUntil(at, undefined, c.idle, { whenIdle: c.whenIdle, spinMs: 0 });
    clearTimeout(reply);
    expect(now() >= at).to.equal(true);
    expect(c.asked()).to.be.at.most(8);
  });

  it('an abort ends a wait with a call in flight at once, and a wake-up after it does nothing', async () => {
    const c = caller(1);
    const ac = new AbortController();
    const at = now() + 1000n * MS;
    const t = now();
    setTimeout(() => ac.abort(), 2);
    await sleepUntil(at, ac.signal, c.idle, { whenIdle: c.whenIdle, spinMs: 0 });
    expect(now() < at).to.equal(true);
    expect(Number(now() - t) / 1e6).to.be.below(900);
    c.end(); // the caller's call ends later: nothing left to wake
  });

  it('already overdue with a call in flight, it lets the event loop run once (replies are read) before it ends', async () => {
    const c = caller(1);
    let turned = false;
    setImmediate(() => (turned = true));
    await sleepUntil(now() - MS, undefined, c.idle, { whenIdle: c.whenIdle, spinMs: 0 });
    expect(turned).to.equal(true);
    // Nothing in flight, nothing to read: it ends at once.
    let turnedIdle = false;
    setImmediate(() => (turnedIdle = true));
    await sleepUntil(now() - MS, undefined, () => true, { spinMs: 0 });
    expect(turnedIdle).to.equal(false);
  });

  it('without whenIdle (the open-loop driver) a wait with calls in flight still ends at or after its time', async () => {
    const at = now() + 2n * MS;
    await sleepUntil(at, undefined, () => false);
    expect(now() >= at).to.equal(true);
  });
});
