import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import type { Engine } from '../src/backends/engine';
import { createBatcher, type Batcher } from '../src/server/batcher';
import { COLOUR_LABELS, createColourEngine, redImage } from './helpers/colour-engine';
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

describe('batcher: fair sharing between connections (per-connection share, round-robin batches)', () => {
  let engine: Engine;
  before(async () => {
    engine = await createColourEngine(SIZE);
  });
  after(async () => engine.dispose());

  /** The colour engine behind a gate: each predict waits until the test opens it, and records its batch. */
  function gated(): { engine: Engine; batches: string[][]; open(): void } {
    const batches: string[][] = [];
    let waiting: Array<() => void> = [];
    const gatedEngine: Engine = {
      ...engine,
      info: engine.info,
      inputShape: engine.inputShape,
      numClasses: engine.numClasses,
      predict: async (batch, n) => {
        const probs = await engine.predict(batch, n);
        batches.push(Array.from({ length: n }, (_, i) => COLOUR_LABELS[[0, 1, 2].reduce((a, b) => (probs[i * 3 + b] > probs[i * 3 + a] ? b : a), 0)]));
        await new Promise<void>((r) => waiting.push(r));
        return probs;
      },
    };
    return {
      engine: gatedEngine,
      batches,
      open: () => {
        const w = waiting;
        waiting = [];
        w.forEach((f) => f());
      },
    };
  }

  it('one connection may hold only its share: a greedy one is refused while a polite one is admitted', () => {
    const b = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 1e6, maxQueue: 8, maxQueuePerOwner: 4, normalize: 'signed', clock: handClock() });
    for (let i = 0; i < 4; i++) b.admit('greedy');
    let err: unknown;
    try {
      b.admit('greedy');
    } catch (e) {
      err = e;
    }
    expect((err as { code?: number }).code).to.equal(status.RESOURCE_EXHAUSTED);
    expect((err as Error).message).to.equal('server busy: this connection already has 4 images waiting, its share of the queue (--max-queue-per-connection 4); retry later');
    b.admit('polite'); // the queue still has room for everyone else
    expect(b.stats()).to.include({ decoding: 5, rejectedQueueFull: 1 });
  });

  it('batches are filled round robin: a polite request runs next, not behind a greedy backlog', async () => {
    const g = gated();
    const b = createBatcher(g.engine, { maxBatch: 1, maxQueueDelayUs: 0, maxQueue: 64, maxQueuePerOwner: 32, normalize: 'signed' });
    const GREEN = new Uint8Array(SIZE * SIZE * 3);
    for (let i = 1; i < GREEN.length; i += 3) GREEN[i] = 255;
    const done: string[] = [];
    const greedy = Array.from({ length: 10 }, (_, i) => b.admit('greedy').submit({ rgb: RED }).then(() => done.push(`g${i}`)));
    await new Promise((r) => setImmediate(r));
    const polite = b.admit('polite').submit({ rgb: GREEN }).then(() => done.push('p'));
    while (done.length < 11) {
      g.open();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([...greedy, polite]);
    expect(g.batches.map((x) => x.join('+'))).to.deep.equal(['red', 'green', ...Array<string>(9).fill('red')]);
    expect(done.indexOf('p'), 'the polite request finished second, after the batch already running').to.equal(1);
  });
});
