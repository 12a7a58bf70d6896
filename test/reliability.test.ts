/**
 * Reliability cases test/server.test.ts does not reach: overload when decoding (not inference) is the slow
 * stage, and a client whose TCP connection dies mid-stream (not a polite cancel). Both against a real
 * server; the dead connection is made by the impairment proxy resetting it.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { ClassifyRequest } from '../src/gen/inference/v1/inference';
import { startServer, type RunningServer } from '../src/server/app';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { classify, connect, ping } from './helpers/grpc-client';
import { startImpairProxy } from '../src/lab/impair-proxy';


describe('reliability: overload at the decoder, and dead connections', function () {
  this.timeout(60_000);
  let server: RunningServer;
  let coffee: Buffer;
  let heavy: Buffer;

  before(async function () {
    coffee = fs.readFileSync(sharedFixture(this, 'images/coffee.png'));
    // Few bytes, many pixels: a 3000×3000 flat PNG is ~30 kB on the wire (the burst arrives at once) but
    // takes tens of ms to decode and resize, so the decoder, not the engine, is the bottleneck.
    heavy = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toBuffer();
    server = await startServer({ drainDelayMs: 0, host: '127.0.0.1', port: 0, model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'silent', maxQueue: 4, maxQueuePerConnection: 4 });
  });
  after(async () => {
    await server?.shutdown(2000);
  });

  it('a burst of 200 with --max-queue 4, decode-bound: most get RESOURCE_EXHAUSTED at once, the admitted ones complete', async () => {
    const client = connect(`127.0.0.1:${server.port}`);
    try {
      const t0 = process.hrtime.bigint();
      const res = await Promise.all(
        Array.from({ length: 200 }, () =>
          classify(client, { image: heavy, topK: 1 }).then(
            (r) => ({ code: 'OK', top: r.predictions.length, ms: Number(process.hrtime.bigint() - t0) / 1e6, details: '' }),
            (e: grpc.ServiceError) => ({ code: grpc.status[e.code], top: -1, ms: Number(process.hrtime.bigint() - t0) / 1e6, details: e.details }),
          ),
        ),
      );
      const ok = res.filter((r) => r.code === 'OK');
      const shed = res.filter((r) => r.code === 'RESOURCE_EXHAUSTED');
      const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
      console.log(`      (${heavy.length} B, 3000×3000 PNG ×200: ${ok.length} OK (median ${med(ok.map((r) => r.ms)).toFixed(0)} ms), ${shed.length} RESOURCE_EXHAUSTED (median ${med(shed.map((r) => r.ms)).toFixed(0)} ms); batcher ${JSON.stringify(server.batcher.stats())})`);
      expect(ok.length + shed.length, `only OK and RESOURCE_EXHAUSTED: ${JSON.stringify(res.find((r) => r.code !== 'OK' && r.code !== 'RESOURCE_EXHAUSTED'))}`).to.equal(200);
      expect(ok.length).to.be.at.least(4);
      expect(ok.every((r) => r.top === 1), 'admitted requests are answered in full').to.equal(true);
      expect(shed.length).to.be.greaterThan(100);
      expect(shed[0].details).to.match(/server busy: queue is full \(4 waiting, --max-queue 4\) with \d+ decoding and \d+ queued for a batch; retry later/);
      // Refusals arrive as fast as the 200 uploads do; compared with the last admitted answer (the backlog's
      // end), not the admitted median, which the upload of 200 large bodies on one connection also bounds.
      expect(med(shed.map((r) => r.ms)), 'shed without waiting for the backlog').to.be.lessThan(Math.max(...ok.map((r) => r.ms)));
      expect((await ping(client, { seq: 3n })).seq).to.equal(3n);
    } finally {
      client.close();
    }
  });

  it('a client whose connection is reset mid-stream: the server notices and its queued frames never run', async function () {
    // Frames wait up to 5 s for a batch of 32, so all 30 are still queued when the connection dies.
    const slow = await startServer({ drainDelayMs: 0, host: '127.0.0.1', port: 0, model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'silent', maxBatch: 32, maxQueueDelayUs: 5_000_000 });
    const proxy = await startImpairProxy({ target: { host: '127.0.0.1', port: slow.port } });
    const viaProxy = connect(`127.0.0.1:${proxy.port}`);
    try {
      const call = viaProxy.classifyStream();
      call.on('error', () => undefined); // UNAVAILABLE on this side, expected
      for (let i = 0; i < 30; i++) call.write(ClassifyRequest.fromPartial({ image: coffee, requestId: `d${i}` }));
      const t0 = Date.now();
      while (slow.batcher.stats().queued < 30 && Date.now() - t0 < 10_000) await sleep(5);
      expect(slow.batcher.stats().queued).to.equal(30);
      proxy.configure({ dropProbability: 1, maxDrops: 1 }); // the next chunk either way resets the connection
      call.write(ClassifyRequest.fromPartial({ image: coffee, requestId: 'trigger' }));
      const t1 = Date.now();
      while (slow.batcher.stats().queued > 0 && Date.now() - t1 < 5000) await sleep(5);
      const st = slow.batcher.stats();
      console.log(`      (30 frames queued, connection reset: noticed in ${Date.now() - t1} ms; ${st.cancelled} removed from the queue as cancelled, ${st.batchedItems} computed)`);
      expect(proxy.stats().drops).to.equal(1);
      expect(st).to.include({ queued: 0, cancelled: 30, batchedItems: 0 });
      const direct = connect(`127.0.0.1:${slow.port}`);
      expect((await ping(direct, { seq: 8n })).seq).to.equal(8n);
      direct.close();
    } finally {
      viaProxy.close();
      await proxy.close();
      await slow.shutdown(2000);
    }
  });
});
