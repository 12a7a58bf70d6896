import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import type { Engine } from '../src/backends/engine';
import { createBatcher, type Batcher, type BatcherClock } from '../src/server/batcher';
import { ServiceError } from '../src/server/errors';
import { createColourEngine } from './helpers/colour-engine';

const SIZE = 16;
const RED = new Uint8Array(SIZE * SIZE * 3).map((_, i) => (i % 3 === 0 ? 255 : 0));

/** Time stands still until the test lets the queue delay pass: nothing leaves the queue behind its back. */
function handClock(): BatcherClock & { passDelay(): void } {
  let t = 1_000_000_000n;
  let pending: Array<() => void> = [];
  return {
    now: () => t,
    setTimeout: (fn: () => void) => {
      pending.push(fn);
      return fn;
    },
    clearTimeout: (h: unknown) => {
      pending = pending.filter((f) => f !== h);
    },
    passDelay: () => {
      t += 10_000_000_000n;
      const fs = pending;
      pending = [];
      for (const f of fs) f();
    },
  };
}

function refusal(b: Batcher): ServiceError {
  try {
    b.admit();
  } catch (err) {
    expect(err).to.be.instanceOf(ServiceError);
    return err as ServiceError;
  }
  throw new Error('admit() should have refused');
}

describe('batcher: admission control (--max-queue counts images being decoded and queued)', () => {
  let engine: Engine;
  before(async () => {
    engine = await createColourEngine(SIZE);
  });
  after(async () => engine.dispose());

  let clock: ReturnType<typeof handClock>;
  const batcher = (maxQueue: number): Batcher => {
    clock = handClock();
    return createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 1e6, maxQueue, normalize: 'signed', clock });
  };

  it('refuses with RESOURCE_EXHAUSTED once places held for decoding plus the queue reach --max-queue', async () => {
    const b = batcher(3);
    b.admit();
    b.admit();
    const queued = b.submit({ rgb: RED });
    expect(b.stats()).to.include({ decoding: 2, queued: 1 });
    const err = refusal(b);
    expect(err.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(err.message).to.equal('server busy: queue is full (3 waiting, --max-queue 3) with 2 decoding and 1 queued for a batch; retry later');
    expect(b.stats()).to.include({ rejectedQueueFull: 1 });
    clock.passDelay();
    expect((await queued).batchSize).to.equal(1);
  });

  it('a place passes to the queue on submit and comes back on release, once', async () => {
    const b = batcher(2);
    const first = b.admit();
    const second = b.admit();
    expect(refusal(b).code).to.equal(status.RESOURCE_EXHAUSTED);
    second.release();
    second.release(); // a second release must not free somebody else's place
    const third = b.admit();
    expect(refusal(b).code, 'still two places held').to.equal(status.RESOURCE_EXHAUSTED);
    const result = first.submit({ rgb: RED });
    first.release(); // no-op after submit
    expect(b.stats()).to.include({ decoding: 1, queued: 1 });
    expect(refusal(b).code, 'the submitted image still counts, now as queued').to.equal(status.RESOURCE_EXHAUSTED);
    third.release();
    clock.passDelay();
    expect((await result).batchSize).to.equal(1);
    expect(b.stats()).to.include({ decoding: 0, queued: 0 });
    b.admit(); // room again
  });
});
