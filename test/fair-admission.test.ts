/**
 * Fair admission end to end: one greedy client (two ClassifyStreams that keep their windows full) and one
 * polite client (unary calls at 2 per second, its own connection) against the default --max-queue 64. Each
 * connection may hold half the queue, and batches are filled round robin, so the polite client is never
 * refused and never waits behind the greedy backlog. Before, two greedy streams with 32 unanswered frames
 * each filled the whole queue. Latency is printed, not asserted (npm test checks behaviour, not speed).
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { ClassifyRequest, type ClassifyResponse } from '../src/gen/inference/v1/inference';
import { classify, connect } from './helpers/grpc-client';
import { mobilenetServer } from './helpers/mobilenet-server';

describe('fair admission: a greedy stream client cannot starve a polite unary client', () => {
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'silent' });

  it('the polite client gets no RESOURCE_EXHAUSTED while the greedy one keeps the queue full', async () => {
    // Own subchannel pools: grpc-js would otherwise share one connection between the two clients.
    const greedy = connect(live.target, { 'grpc.use_local_subchannel_pool': 1 });
    const polite = connect(live.target, { 'grpc.use_local_subchannel_pool': 1 });
    const greedyCodes = new Map<number, number>();
    let stop = false;
    const streams = [0, 1].map(() => {
      const call = greedy.classifyStream();
      let sent = 0;
      const top = (): void => {
        // Keep far more frames outstanding than the stream window (32): the server always has a full window.
        while (!stop && sent - answered < 96) {
          call.write(ClassifyRequest.fromPartial({ image: live.coffee, topK: 1, requestId: `g${sent++}` }));
        }
      };
      let answered = 0;
      call.on('data', (r: ClassifyResponse) => {
        answered++;
        const code = r.error?.code ?? 0;
        greedyCodes.set(code, (greedyCodes.get(code) ?? 0) + 1);
        top();
      });
      const ended = new Promise<void>((resolve) => {
        call.on('end', resolve);
        call.on('error', () => resolve());
      });
      top();
      return { call, ended };
    });
    // Let the greedy client fill its share first.
    await new Promise((r) => setTimeout(r, 300));
    const politeOutcomes: Array<{ code: number; ms: number }> = [];
    for (let i = 0; i < 10; i++) {
      const t0 = process.hrtime.bigint();
      const code = await classify(polite, { image: live.coffee, topK: 1, requestId: 'polite' }).then(
        () => 0,
        (e: grpc.ServiceError) => e.code,
      );
      politeOutcomes.push({ code, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      await new Promise((r) => setTimeout(r, 500));
    }
    stop = true;
    for (const s of streams) s.call.end();
    await Promise.all(streams.map((s) => s.ended));
    greedy.close();
    polite.close();
    const ms = politeOutcomes.map((o) => o.ms).sort((a, b) => a - b);
    console.log(`      (greedy frames by status ${JSON.stringify(Object.fromEntries(greedyCodes))}; polite latency ms min ${ms[0].toFixed(1)} median ${ms[5].toFixed(1)} max ${ms[9].toFixed(1)})`);
    expect(politeOutcomes.map((o) => o.code), 'polite calls: all OK').to.deep.equal(Array<number>(10).fill(grpc.status.OK));
    expect(greedyCodes.get(0) ?? 0, 'the greedy client is served too').to.be.greaterThan(0);
  });
});
