/**
 * Graceful shutdown and the batcher together: work admitted before shutdown began (even an image still being
 * decoded) finishes within the grace period; work arriving afterwards is refused before it is decoded.
 * The grace period runs on a hand clock, so nothing here depends on how fast the machine is; a place held by
 * admit() and not yet submitted is exactly what the service holds while sharp decodes.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import type { Engine } from '../src/backends/engine';
import { createBatcher, type Batcher } from '../src/server/batcher';
import { ServiceError } from '../src/server/errors';
import { createHealth } from '../src/server/health';
import { createLogger } from '../src/server/log';
import { createShutdown } from '../src/server/shutdown';
import { createColourEngine, redImage } from './helpers/colour-engine';
import { refusal } from './helpers/refusal';
import { handClock } from './helpers/hand-clock';

const SIZE = 16;
const RED = redImage(SIZE);
const AN_HOUR_NS = 3_600_000_000_000n;

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function stoppedLine(lines: string[]): { forced?: boolean } {
  const line = lines.map((l) => JSON.parse(l) as { msg: string; forced?: boolean }).find((l) => l.msg === 'stopped');
  if (!line) throw new Error(`no "stopped" log line in ${JSON.stringify(lines)}`);
  return line;
}

describe('batcher: graceful shutdown finishes admitted work and refuses new work', () => {
  let engine: Engine;
  let clock: ReturnType<typeof handClock>;
  let batcher: Batcher;
  let lines: string[];
  let shutdown: (graceMs?: number) => Promise<void>;
  let server: grpc.Server;
  beforeEach(async () => {
    engine = await createColourEngine(SIZE);
    clock = handClock();
    // A batching delay the clock never reaches on its own: only shutdown can make a lone item run.
    batcher = createBatcher(engine, { maxBatch: 8, maxQueueDelayUs: 1e9, maxQueue: 8, normalize: 'signed', clock });
    lines = [];
    server = new grpc.Server();
    const log = createLogger('info', { format: 'json', sink: (l) => lines.push(l) });
    shutdown = createShutdown({ server, health: createHealth(), batcher, engine, log, defaultGraceMs: 30_000, clock });
  });
  afterEach(() => server.forceShutdown());

  it('an image still decoding when shutdown starts is queued and classified within the grace period', async () => {
    const decoding = batcher.admit();
    let stopped = false;
    const stopping = shutdown().then(() => {
      stopped = true;
    });
    await turns(5);
    expect(stopped, 'shutdown waits for the image being decoded').to.equal(false);
    const result = await decoding.submit({ rgb: RED }); // decoding done: it runs now, not after the delay
    expect(result.batchSize).to.equal(1);
    expect(result.probabilities[0]).to.be.greaterThan(0.5); // red
    await stopping;
    expect(stoppedLine(lines).forced, 'finished within the grace period').to.equal(false);
  });

  it('a request arriving after shutdown started is refused with UNAVAILABLE before it is decoded', async () => {
    const stopping = shutdown();
    const late = refusal(batcher);
    expect(late.code).to.equal(grpc.status.UNAVAILABLE);
    expect(late.message).to.equal('server is shutting down');
    expect(batcher.stats(), 'the refused request holds no place').to.include({ decoding: 0, rejectedQueueFull: 0 });
    await stopping;
  });

  it('an image still decoding when the grace period runs out is refused, and shutdown does not wait for it', async () => {
    const decoding = batcher.admit();
    const stopping = shutdown();
    await turns(5);
    clock.pass(AN_HOUR_NS); // the grace period runs out
    await stopping;
    const err = await decoding.submit({ rgb: RED }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ServiceError);
    expect((err as ServiceError).code).to.equal(grpc.status.UNAVAILABLE);
    expect((err as ServiceError).message).to.equal('server shut down before this request ran');
    expect(stoppedLine(lines).forced).to.equal(true);
  });
});
