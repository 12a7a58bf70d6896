/**
 * Shutdown and open ClassifyStreams: every frame the server read is answered, and the stream then ends
 * with a status that says what happened, at once rather than at the end of the grace period (before, an
 * open stream was reset when the grace period ran out and its computed answers were lost).
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { ClassifyRequest, type ClassifyResponse } from '../src/gen/inference/v1/inference';
import { startServer } from '../src/server/app';
import { connect } from './helpers/grpc-client';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import * as fs from 'node:fs';

describe('shutdown: open streams get every answer and a clean end', () => {
  it('a stream with frames queued when shutdown begins: all answered, then UNAVAILABLE saying later frames were not read', async function () {
    const coffee = fs.readFileSync(sharedFixture(this, 'images/coffee.png'));
    // Batches wait a minute for company: the frames are still queued when shutdown begins.
    const server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', model: sharedFixture(this, MOBILENET_JSON), normalize: 'signed', logLevel: 'silent', maxBatch: 16, maxQueueDelayUs: 60_000_000 });
    const client = connect(`127.0.0.1:${server.port}`);
    try {
      const call = client.classifyStream();
      const got: ClassifyResponse[] = [];
      call.on('data', (r: ClassifyResponse) => got.push(r));
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => undefined);
      for (let i = 0; i < 10; i++) call.write(ClassifyRequest.fromPartial({ image: coffee, topK: 1, requestId: `f${i}` }));
      const t0 = Date.now();
      while (server.batcher.stats().queued < 10 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 10));
      expect(server.batcher.stats().queued).to.equal(10);
      // A grace period far beyond the test's timeout: were the stream holding shutdown, the test would time out.
      await server.shutdown(10 * 60_000);
      const s = await status;
      expect(got.map((r) => `${r.requestId}:${r.error?.code ?? 0}`)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `f${i}:0`));
      expect(s.code).to.equal(grpc.status.UNAVAILABLE);
      expect(s.details).to.equal('server is shutting down: every frame read was answered; frames sent after the last answer were not read, send them again elsewhere');
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });
});
