import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import {
  CLASSIFY_PATH, grpcClassifyBody, h2loadClassify, missingH2Tools, nghttpGrpcCall, parseH2loadLog, parseH2loadSummary,
  verifyGrpcBody, writeGrpcClassifyBody,
} from '../bench/h2load';
import { ClassifyRequest } from '../src/gen/inference/v1/inference';
import { startServer, type RunningServer } from '../src/server/app';
import { suiteTempDir } from './helpers/temp-dir';
import { requireTool } from './helpers/tools';

/** h2load 1.52's summary of a timed run with warm-up (trimmed to the lines that are parsed and their neighbours). */
const SUMMARY = `finished in 4.00s, 27.33 req/s, 7.10KB/s
requests: 82 total, 82 started, 82 done, 80 succeeded, 2 failed, 0 errored, 1 timeout
status codes: 79 2xx, 0 3xx, 1 4xx, 0 5xx
traffic: 21.30KB (21810) total, 737B (737) headers (space savings 95.22%), 22.25KB (22781) data
`;

describe('bench/h2load: parsing and request bodies', function () {
  it('reads the counters of h2load\'s summary', function () {
    expect(parseH2loadSummary(SUMMARY)).to.deep.equal({
      finishedS: 4, reqPerS: 27.33, total: 82, started: 82, done: 82, succeeded: 80, failed: 2, errored: 0, timeout: 1,
      status2xx: 79, status3xx: 0, status4xx: 1, status5xx: 0,
    });
    expect(parseH2loadSummary(SUMMARY.replace('4.00s', '141.50ms')).finishedS).to.be.closeTo(0.1415, 1e-9);
    expect(() => parseH2loadSummary('connect: Connection refused')).to.throw(/cannot parse h2load/);
  });

  it('reads --log-file lines and refuses anything else', function () {
    expect(parseH2loadLog('1796221841716304\t200\t135915\n1796221841716301\t404\t990\n\n')).to.deep.equal([
      { startUs: 1796221841716304, status: 200, durationUs: 135915 },
      { startUs: 1796221841716301, status: 404, durationUs: 990 },
    ]);
    expect(() => parseH2loadLog('1\t200\n')).to.throw(/unexpected h2load log line/);
  });

  it('frames a ClassifyRequest {image, top_k} with the 5-byte gRPC prefix', function () {
    const image = new Uint8Array([0xff, 0xd8, 1, 2, 3]);
    const body = grpcClassifyBody(image, 5);
    expect(body[0]).to.equal(0);
    expect(body.readUInt32BE(1)).to.equal(body.length - 5);
    const req = ClassifyRequest.decode(body.subarray(5));
    expect([...req.image]).to.deep.equal([...image]);
    expect(req.topK).to.equal(5);
  });
});

describe('bench/h2load against the server (synthetic GoogLeNet)', function () {
  this.timeout(240000);
  const dir = suiteTempDir('h2load-test-');
  let server: RunningServer;
  let metricsPort = 0;
  let body = '';

  before(async function () {
    const missing = missingH2Tools();
    requireTool(this, missing.length === 0, `${missing.join(' and ')} not found (apt-get install nghttp2-client)`);
    server = await startServer({ drainDelayMs: 0, port: 0, host: '127.0.0.1', logLevel: 'error', metricsPort: 0 });
    metricsPort = server.metricsPort as number;
    const jpeg = path.join(dir.path, 'img.jpg');
    fs.writeFileSync(jpeg, await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3a7' } }).jpeg().toBuffer());
    body = writeGrpcClassifyBody(jpeg, path.join(dir.path, 'classify.grpc'));
  });
  after(async function () {
    await server?.shutdown(1000);
  });

  it('the body gets grpc-status 0; h2load reports requests, latencies and no failures', async function () {
    const check = await verifyGrpcBody(server.port, body);
    expect(check.responseDataBytes).to.be.greaterThan(5);
    const r = await h2loadClassify({ port: server.port, bodyFile: body, inFlight: 2, durationS: 1, warmUpS: 0.5, metricsPort });
    expect(r.done).to.be.greaterThan(0);
    expect(r.images_per_s).to.be.closeTo(r.done, 2); // 1 s measured; the log and the summary may differ by the in-flight
    expect([r.failed, r.non2xx, r.grpc_not_ok]).to.deep.equal([0, 0, 0]);
    expect(r.grpc_cut, 'only requests in flight at the end of the run may be cut').to.be.at.most(2);
    expect(r.p50_ms).to.be.greaterThan(0).and.at.most(r.p99_ms);
    expect(r.command).to.match(/-c 1 -m 2 /);
  });

  it('a request the server refuses is HTTP 200 to h2load: nghttp shows the gRPC status, the metrics count it', async function () {
    const bad = path.join(dir.path, 'garbage.grpc');
    fs.writeFileSync(bad, grpcClassifyBody(Buffer.from('not an image'), 5));
    expect((await nghttpGrpcCall(server.port, CLASSIFY_PATH, bad)).grpcStatus).to.equal('3');
    await verifyGrpcBody(server.port, bad).then(() => expect.fail('verifyGrpcBody accepted an INVALID_ARGUMENT body'), (e: Error) => expect(e.message).to.match(/grpc-status 3/));
    const r = await h2loadClassify({ port: server.port, bodyFile: bad, inFlight: 2, durationS: 1, warmUpS: 0, metricsPort });
    expect(r.non2xx).to.equal(0);
    expect(r.grpc_not_ok).to.be.at.least(r.done).and.greaterThan(0);
  });
});
