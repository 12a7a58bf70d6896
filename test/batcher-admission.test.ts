import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import type { Engine } from '../src/backends/engine';
import { createBatcher, type Batcher } from '../src/server/batcher';
import { createColourEngine, redImage } from './helpers/colour-engine';
import { refusal } from './helpers/refusal';
import { handClock } from './helpers/hand-clock';

const SIZE = 16;
const RED = redImage(SIZE);
const QUEUE_DELAY_NS = 10_000_000_000n;

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
    clock.pass(QUEUE_DELAY_NS);
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
    clock.pass(QUEUE_DELAY_NS);
    expect((await result).batchSize).to.equal(1);
    expect(b.stats()).to.include({ decoding: 0, queued: 0 });
    b.admit(); // room again
  });
});
