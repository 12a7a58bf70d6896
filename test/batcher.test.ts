import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import type { Engine } from '../src/backends/engine';
import { createBatcher, type Batcher, type BatcherClock, type BatchItemResult } from '../src/server/batcher';
import { ServiceError } from '../src/server/errors';
import { createColourEngine } from './helpers/colour-engine';

const SIZE = 16;

/** A clock the test moves by hand: the batching policy becomes deterministic, the engine stays real. */
class FakeClock implements BatcherClock {
  t = 1_000_000_000n;
  private timers: Array<{ due: bigint; fn: () => void; id: number }> = [];
  private nextId = 1;
  now(): bigint {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ due: this.t + BigInt(Math.round(ms * 1e6)), fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  advanceMs(ms: number): void {
    this.t += BigInt(Math.round(ms * 1e6));
    const due = this.timers.filter((t) => t.due <= this.t);
    this.timers = this.timers.filter((t) => t.due > this.t);
    for (const t of due) t.fn();
  }
}

function image(r: number, g: number, b: number): Uint8Array {
  const a = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < a.length; i += 3) a.set([r, g, b], i);
  return a;
}
const RED = image(255, 0, 0);
const GREEN = image(0, 255, 0);
const BLUE = image(0, 0, 255);

function argmax(p: Float32Array): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  return best;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Lets whatever the batcher has started finish: waits (in event-loop turns, not wall-clock time) until no
 * batch is on the engine, then one more turn so the callers' promise handlers have run. With the fake clock
 * nothing new can start meanwhile, so what is not done afterwards is waiting for the clock.
 */
async function settle(b: Batcher): Promise<void> {
  do await turn();
  while (b.stats().inFlightBatches > 0);
  await turn();
}

function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown; p: Promise<T> } {
  const s: { done: boolean; value?: T; error?: unknown; p: Promise<T> } = { done: false, p };
  p.then(
    (v) => Object.assign(s, { done: true, value: v }),
    (e: unknown) => Object.assign(s, { done: true, error: e }),
  );
  return s;
}

function codeOf(err: unknown): number {
  expect(err).to.be.instanceOf(ServiceError);
  return (err as ServiceError).code;
}

describe('batcher: dynamic batching policy (real tfjs engine, fake clock)', () => {
  let engine: Engine & { calls: number[] };
  beforeEach(async () => {
    engine = await createColourEngine(SIZE);
  });
  afterEach(async () => engine.dispose());

  it('runs a batch as soon as max-batch items are queued, without waiting for the delay', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 4, maxQueueDelayUs: 1e6, maxQueue: 16, normalize: 'signed', clock });
    const first = [RED, GREEN, BLUE, RED].map((rgb) => track(b.submit({ rgb })));
    const fifth = track(b.submit({ rgb: GREEN }));
    await settle(b);
    expect(first.every((s) => s.done)).to.equal(true);
    expect(first.map((s) => s.value!.batchSize)).to.deep.equal([4, 4, 4, 4]);
    expect(fifth.done, 'the 5th waits for company or the delay').to.equal(false);
    expect(engine.calls).to.deep.equal([4]);
    clock.advanceMs(1000);
    await settle(b);
    expect(fifth.value!.batchSize).to.equal(1);
    expect(fifth.value!.queueNanos).to.equal(1_000_000_000n);
    expect(engine.calls).to.deep.equal([4, 1]);
  });

  it('runs a partial batch when the oldest item has waited max-queue-delay', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 10_000, maxQueue: 16, normalize: 'signed', clock });
    const a = track(b.submit({ rgb: RED }));
    clock.advanceMs(4);
    const c = track(b.submit({ rgb: BLUE }));
    clock.advanceMs(5.9);
    await settle(b);
    expect(a.done || c.done, 'nothing runs before 10 ms').to.equal(false);
    clock.advanceMs(0.1);
    await settle(b);
    expect([a.value!.batchSize, c.value!.batchSize]).to.deep.equal([2, 2]);
    expect(a.value!.queueNanos).to.equal(10_000_000n);
    expect(c.value!.queueNanos).to.equal(6_000_000n);
    expect(b.stats()).to.include({ batches: 1, batchedItems: 2, queued: 0 });
  });

  it('with delay 0, a lone request runs at once and requests arriving during a busy engine batch together', async () => {
    const slow = await createColourEngine(SIZE, { delayMs: 50 });
    const b = createBatcher(slow, { maxBatch: 8, maxQueueDelayUs: 0, maxQueue: 16, normalize: 'signed' });
    const lone = b.submit({ rgb: RED });
    const during = [GREEN, BLUE, RED].map((rgb) => b.submit({ rgb }));
    expect((await lone).batchSize).to.equal(1);
    const rs = await Promise.all(during);
    expect(rs.map((r) => r.batchSize)).to.deep.equal([3, 3, 3]);
    expect(slow.calls).to.deep.equal([1, 3]);
    expect(Number(rs[0].queueNanos) / 1e6, 'they waited for the first batch').to.be.greaterThan(30);
  });

  it('gives every item its own probabilities (no mix-up inside a batch)', async () => {
    const b = createBatcher(engine, { maxBatch: 6, maxQueueDelayUs: 1e6, maxQueue: 16, normalize: 'signed' });
    const inputs = [RED, GREEN, BLUE, BLUE, RED, GREEN];
    const rs: BatchItemResult[] = await Promise.all(inputs.map((rgb) => b.submit({ rgb })));
    expect(rs.map((r) => argmax(r.probabilities))).to.deep.equal([0, 1, 2, 2, 0, 1]);
    expect(rs.every((r) => r.batchSize === 6 && r.probabilities.length === 3)).to.equal(true);
    // Same answer as the image run alone.
    const alone = await createBatcher(engine, { maxBatch: 1, maxQueueDelayUs: 0, maxQueue: 4, normalize: 'signed' }).submit({ rgb: BLUE });
    expect(Array.from(rs[2].probabilities)).to.deep.equal(Array.from(alone.probabilities));
  });

  it('rejects beyond max-queue with RESOURCE_EXHAUSTED at once, while admitted items complete', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 1e6, maxQueue: 2, normalize: 'signed', clock });
    const ok = [b.submit({ rgb: RED }), b.submit({ rgb: GREEN })].map(track);
    const third = track(b.submit({ rgb: BLUE }));
    await settle(b);
    // "At once": refused while the clock has not moved and the admitted pair still waits for its delay.
    expect(third.done, 'refused without waiting').to.equal(true);
    expect(ok.some((s) => s.done), 'the admitted pair is still queued').to.equal(false);
    expect(codeOf(third.error)).to.equal(status.RESOURCE_EXHAUSTED);
    expect((third.error as Error).message).to.match(/queue is full \(2 waiting, --max-queue 2\)/);
    clock.advanceMs(1000);
    expect((await Promise.all(ok.map((s) => s.p))).map((r) => r.batchSize)).to.deep.equal([2, 2]);
    expect(b.stats()).to.include({ rejectedQueueFull: 1, admitted: 2 });
  });

  it('drops an item whose deadline passed while queued, before inference (DEADLINE_EXCEEDED, counted)', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 10_000, maxQueue: 8, normalize: 'signed', clock });
    const late = track(b.submit({ rgb: RED, deadlineNs: clock.now() + 5_000_000n }));
    const fine = track(b.submit({ rgb: GREEN, deadlineNs: clock.now() + 50_000_000n }));
    clock.advanceMs(10);
    await settle(b);
    expect(codeOf(late.error)).to.equal(status.DEADLINE_EXCEEDED);
    expect(fine.value!.batchSize, 'the expired item did not take a batch slot').to.equal(1);
    expect(engine.calls).to.deep.equal([1]);
    expect(b.stats()).to.include({ deadlineDropped: 1, batchedItems: 1 });
  });

  it('removes a cancelled item from the queue (CANCELLED, counted); the others run', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 10_000, maxQueue: 8, normalize: 'signed', clock });
    const ac = new AbortController();
    const gone = track(b.submit({ rgb: RED, signal: ac.signal }));
    const stays = track(b.submit({ rgb: BLUE }));
    ac.abort();
    await settle(b);
    expect(codeOf(gone.error)).to.equal(status.CANCELLED);
    expect(b.stats()).to.include({ queued: 1, cancelled: 1 });
    clock.advanceMs(10);
    await settle(b);
    expect(stays.value!.batchSize).to.equal(1);
    expect(argmax(stays.value!.probabilities)).to.equal(2);
    const pre = new AbortController();
    pre.abort();
    expect(codeOf(await b.submit({ rgb: RED, signal: pre.signal }).catch((e: unknown) => e))).to.equal(status.CANCELLED);
  });

  it('an engine failure fails that batch with INTERNAL (the engine\'s text kept for the log only) and the batcher goes on', async () => {
    let fail = true;
    const flaky: Engine = {
      ...engine,
      info: engine.info,
      inputShape: engine.inputShape,
      numClasses: engine.numClasses,
      predict: (batch, n) => (fail ? Promise.reject(new Error('device lost')) : engine.predict(batch, n)),
    };
    const b = createBatcher(flaky, { maxBatch: 2, maxQueueDelayUs: 0, maxQueue: 4, normalize: 'signed' });
    const err = await b.submit({ rgb: RED }).catch((e: unknown) => e);
    expect(codeOf(err)).to.equal(status.INTERNAL);
    expect((err as Error).message, 'what the client sees').to.equal('inference failed (see the server log)');
    expect(((err as Error).cause as Error).message, 'what the log gets').to.equal('device lost');
    fail = false;
    expect(argmax((await b.submit({ rgb: GREEN })).probabilities)).to.equal(1);
    expect(b.stats()).to.include({ failedBatches: 1, batches: 1 });
  });

  it('drain() runs what is queued at once, then refuses new work with UNAVAILABLE', async () => {
    const clock = new FakeClock();
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 1e9, maxQueue: 8, normalize: 'signed', clock });
    const queued = b.submit({ rgb: RED });
    await b.drain();
    expect((await queued).batchSize).to.equal(1);
    expect(codeOf(await b.submit({ rgb: RED }).catch((e: unknown) => e))).to.equal(status.UNAVAILABLE);
  });

  it('keeps tfjs tensors flat across many batches (no leak per request)', async () => {
    const b = createBatcher(engine, { maxBatch: 4, maxQueueDelayUs: 0, maxQueue: 64, normalize: 'signed' });
    await b.submit({ rgb: RED });
    const before = engine.liveTensors();
    await Promise.all(Array.from({ length: 40 }, (_, i) => b.submit({ rgb: [RED, GREEN, BLUE][i % 3] })));
    expect(engine.liveTensors()).to.equal(before);
  });
});
