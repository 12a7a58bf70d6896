/**
 * ClassifyRequest.tensor: raw uint8 RGB HWC of the model's input size, classified without the server's
 * decode, on both ports and on streams, admitted like an image; and the errors that name the shape.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { ClassifyRequest } from '../src/gen/inference/v1/inference';
import { InferenceService } from '../src/gen/inference/v1/inference_pb';
import { mobilenetServer } from './helpers/mobilenet-server';
import { classify, rawClassifyStream, serverInfo, statusOf } from './helpers/grpc-client';

const SHAPE_224 = 'uint8 RGB HWC 224×224×3 = 150528 bytes';
const ESPRESSO = 967;

/** `image` resized (fill) to 224×224 as a lossless PNG, and that PNG's own pixels: the same picture twice. */
async function samePixels(image: Buffer): Promise<{ png: Buffer; rgb: Buffer }> {
  const png = await sharp(image).resize(224, 224, { fit: 'fill' }).removeAlpha().png().toBuffer();
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).to.deep.equal([224, 224, 3]);
  return { png, rgb: data };
}

const frame = (req: Partial<ClassifyRequest>): Buffer => Buffer.from(ClassifyRequest.encode(ClassifyRequest.fromPartial(req)).finish());

describe('tensor input (ClassifyRequest.tensor)', function () {
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'error', webPort: 0 });
  let coffee: { png: Buffer; rgb: Buffer };
  let cat: { png: Buffer; rgb: Buffer };
  before(async () => {
    coffee = await samePixels(live.coffee);
    cat = await samePixels(live.chelsea);
  });

  it('GetServerInfo gives the input size a tensor must have', async () => {
    const info = await serverInfo(live.client);
    expect(info.model).to.deep.include({ inputHeight: 224, inputWidth: 224, inputChannels: 3 });
  });

  it('a tensor of the input size classifies as the PNG of the same pixels does, with decode_nanos 0', async () => {
    for (const { png, rgb } of [coffee, cat]) {
      const viaImage = await classify(live.client, { image: png, topK: 5 });
      const viaTensor = await classify(live.client, { tensor: rgb, topK: 5 });
      expect(viaTensor.predictions.map((p) => p.classIndex)).to.deep.equal(viaImage.predictions.map((p) => p.classIndex));
      viaTensor.predictions.forEach((p, i) => expect(p.probability).to.be.closeTo(viaImage.predictions[i].probability, 1e-4));
      const t = viaTensor.timing!;
      expect(t.decodeNanos).to.equal(0n);
      expect(t.preprocessNanos > 0n && t.inferenceNanos > 0n).to.equal(true);
      expect(viaImage.timing!.decodeNanos > 0n).to.equal(true);
    }
    expect((await classify(live.client, { tensor: coffee.rgb, topK: 1 })).predictions[0].classIndex).to.equal(ESPRESSO);
  });

  it('a tensor of another length → INVALID_ARGUMENT naming the shape the model takes', async () => {
    for (const n of [1000, 150527, 150529, 299 * 299 * 3]) {
      const err = await statusOf(classify(live.client, { tensor: Buffer.alloc(n, 7) }));
      expect(err.code, `${n} bytes`).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(err.details).to.equal(`tensor is ${n} bytes; this model takes ${SHAPE_224}`);
    }
  });

  it('both image and tensor → INVALID_ARGUMENT; neither → the empty-image error', async () => {
    const both = await statusOf(classify(live.client, { image: coffee.png, tensor: coffee.rgb }));
    expect(both.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(both.details).to.match(/^both image \(\d+ bytes\) and tensor \(150528 bytes\) are set; set one/);
    const neither = await statusOf(classify(live.client, { topK: 1 }));
    expect(neither.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(neither.details).to.equal('image is empty (0 bytes): set ClassifyRequest.image to an encoded JPEG/PNG/WebP');
  });

  it('ClassifyStream: a bad tensor frame gets an error response and the stream goes on', async () => {
    const got = await rawClassifyStream(live.target, [
      frame({ tensor: coffee.rgb, topK: 1, requestId: 'a' }),
      frame({ tensor: Buffer.alloc(1000), topK: 1, requestId: 'b' }),
      frame({ image: coffee.png, topK: 1, requestId: 'c' }),
      frame({ image: coffee.png, tensor: coffee.rgb, topK: 1, requestId: 'd' }),
      frame({ tensor: coffee.rgb, topK: 1, requestId: 'e' }),
    ]);
    expect(got.map((r) => r.requestId)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    for (const i of [0, 2, 4]) {
      expect(got[i].error, got[i].requestId).to.equal(undefined);
      expect(got[i].predictions[0].classIndex).to.equal(ESPRESSO);
    }
    expect(got[0].timing!.decodeNanos).to.equal(0n);
    expect(got[1].error).to.deep.include({ code: grpc.status.INVALID_ARGUMENT, codeName: 'INVALID_ARGUMENT', message: `tensor is 1000 bytes; this model takes ${SHAPE_224}` });
    expect(got[1].predictions).to.have.length(0);
    expect(got[3].error!.message).to.match(/^both image/);
  });

  it('the web port takes tensors too (gRPC-web and Connect), with the same errors', async () => {
    const base = `http://127.0.0.1:${live.server.webPort}`;
    for (const transport of [createGrpcWebTransport({ baseUrl: base, httpVersion: '1.1' }), createConnectTransport({ baseUrl: base, httpVersion: '1.1' })]) {
      const web = createClient(InferenceService, transport);
      const r = await web.classify({ tensor: coffee.rgb, topK: 1 });
      expect(r.predictions[0].classIndex).to.equal(ESPRESSO);
      expect(r.timing!.decodeNanos).to.equal(0n);
      const err = await web.classify({ tensor: new Uint8Array(1000) }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).to.equal(Code.InvalidArgument);
      expect(err?.rawMessage).to.equal(`tensor is 1000 bytes; this model takes ${SHAPE_224}`);
    }
  });
});

describe('tensor input: admitted like an image', function () {
  // Batches wait up to 1 s for 8 items, so the queue (bound 2) stays full while the burst arrives. One client
  // connection, so its share of the queue is the whole queue.
  const live = mobilenetServer({ host: '127.0.0.1', logLevel: 'error', maxQueue: 2, maxQueuePerConnection: 2, maxBatch: 8, maxQueueDelayUs: 1_000_000 });

  it('a burst of tensors beyond --max-queue gets RESOURCE_EXHAUSTED at once while admitted ones complete', async () => {
    const { rgb } = await samePixels(live.coffee);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        classify(live.client, { tensor: rgb, topK: 1 }).then(
          (r) => ({ ok: r.predictions[0].classIndex, batch: r.timing!.batchSize }),
          (e: grpc.ServiceError) => ({ code: e.code, details: e.details }),
        ),
      ),
    );
    const ok = outcomes.filter((o): o is { ok: number; batch: number } => 'ok' in o);
    const refused = outcomes.filter((o): o is { code: number; details: string } => 'code' in o);
    expect(ok.map((o) => o.ok)).to.deep.equal([ESPRESSO, ESPRESSO]);
    expect(ok.map((o) => o.batch)).to.deep.equal([2, 2]);
    expect(refused).to.have.length(8);
    for (const r of refused) {
      expect(r.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.details).to.match(/queue is full \(2 waiting, --max-queue 2\)/);
    }
    expect(live.server.batcher.stats()).to.include({ queued: 0, decoding: 0 });
  });
});
