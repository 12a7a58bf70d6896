import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMetrics, metricsInterceptor } from '../src/server/metrics';
import * as net from 'node:net';
import { MAX_METRICS_CONNECTIONS, startMetricsServer } from '../src/server/metrics-endpoint';
import { statusName } from '../src/shared/grpc-status';
import { parsePrometheusText, sumSamples } from './helpers/prometheus-text';
import { InferenceServiceClient, ping, startTinyServer } from './helpers/tiny-grpc-server';

function get(port: number, path: string, method = 'GET', headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const INFO = { model: 'googlenet', backend: 'wasm', executionProvider: 'tfjs-wasm (simd)', weights: 'synthetic', inputSize: 224, version: '0.1.0' };

describe('Prometheus metrics', function () {
  it('GET /metrics serves valid exposition text (every line in the grammar, HELP and TYPE for every family)', async function () {
    const m = createMetrics(INFO);
    m.observeTiming({
      queueNanos: 1_500_000n, decodeNanos: 2_000_000n, preprocessNanos: 1_000_000n,
      inferenceNanos: 40_000_000n, postprocessNanos: 100_000n, totalNanos: 45_000_000n, batchSize: 4,
    });
    m.setQueueDepthSource(() => 3);
    m.dropped.inc({ reason: 'deadline' });
    const srv = await startMetricsServer(m, { host: '127.0.0.1', port: 0 });
    try {
      const r = await get(srv.port, '/metrics');
      expect(r.status).to.equal(200);
      expect(r.type).to.match(/^text\/plain; version=0\.0\.4/);
      const fams = parsePrometheusText(r.body);
      for (const name of [
        'grpc_server_started_total', 'grpc_server_handled_total', 'grpc_server_handling_seconds', 'grpc_server_in_flight_calls',
        'grpc_server_cancelled_total', 'inference_queue_wait_seconds', 'inference_decode_seconds', 'inference_preprocess_seconds',
        'inference_engine_seconds', 'inference_postprocess_seconds', 'inference_request_seconds', 'inference_batch_size',
        'inference_queue_depth', 'inference_dropped_total', 'inference_stream_frames_total', 'inference_model_info',
        'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds',
      ]) {
        expect(fams.has(name), name).to.equal(true);
      }
      expect(fams.get('inference_request_seconds')!.type).to.equal('histogram');
      // 45 ms lands in the 0.05 bucket but not the 0.025 one: seconds, not nanos or millis.
      expect(sumSamples(fams, 'inference_request_seconds_bucket', { le: '0.05' })).to.equal(1);
      expect(sumSamples(fams, 'inference_request_seconds_bucket', { le: '0.025' })).to.equal(0);
      expect(sumSamples(fams, 'inference_request_seconds_sum')).to.be.closeTo(0.045, 1e-9);
      expect(sumSamples(fams, 'inference_batch_size_bucket', { le: '4' })).to.equal(1);
      expect(sumSamples(fams, 'inference_batch_size_bucket', { le: '2' })).to.equal(0);
      expect(sumSamples(fams, 'inference_queue_depth')).to.equal(3);
      expect(sumSamples(fams, 'inference_dropped_total', { reason: 'deadline' })).to.equal(1);
      expect(sumSamples(fams, 'inference_dropped_total', { reason: 'cancelled' })).to.equal(0);
      const info = fams.get('inference_model_info')!.samples[0];
      expect(info.labels).to.include({ model: 'googlenet', backend: 'wasm', weights: 'synthetic', input_size: '224' });
      expect(info.value).to.equal(1);
    } finally {
      await srv.close();
    }
  });

  it('/readyz follows the serving state (200 SERVING, 503 NOT_SERVING) while /livez stays 200', async function () {
    let serving = false;
    const srv = await startMetricsServer(createMetrics(INFO), { host: '127.0.0.1', port: 0, isServing: () => serving });
    try {
      expect(await get(srv.port, '/readyz')).to.deep.include({ status: 503, body: 'NOT_SERVING\n' });
      expect((await get(srv.port, '/livez')).status).to.equal(200);
      serving = true;
      expect(await get(srv.port, '/readyz')).to.deep.include({ status: 200, body: 'SERVING\n' });
      serving = false;
      expect((await get(srv.port, '/readyz')).status).to.equal(503);
      expect((await get(srv.port, '/livez')).status).to.equal(200);
    } finally {
      await srv.close();
    }
  });

  it('with --metrics-tokens-file, /metrics needs a bearer token; /livez and /readyz stay open', async function () {
    const srv = await startMetricsServer(createMetrics(INFO), { host: '127.0.0.1', port: 0, isServing: () => true, tokens: ['s3cret'] });
    try {
      expect((await get(srv.port, '/metrics')).status).to.equal(401);
      expect((await get(srv.port, '/metrics', 'GET', { authorization: 'Bearer wrong' })).status).to.equal(401);
      expect((await get(srv.port, '/metrics', 'GET', { authorization: 'Bearer s3cret' })).status).to.equal(200);
      expect((await get(srv.port, '/readyz')).status).to.equal(200);
      expect((await get(srv.port, '/livez')).status).to.equal(200);
    } finally {
      await srv.close();
    }
  });

  it(`accepts at most ${MAX_METRICS_CONNECTIONS} connections at once`, async function () {
    const srv = await startMetricsServer(createMetrics(INFO), { host: '127.0.0.1', port: 0 });
    const sockets: net.Socket[] = [];
    try {
      // Open connections that send nothing, then one more: it is closed by the server at once.
      for (let i = 0; i < MAX_METRICS_CONNECTIONS; i++) {
        const s = net.connect(srv.port, '127.0.0.1');
        sockets.push(s);
        await new Promise((r) => s.once('connect', r));
      }
      await new Promise((r) => setTimeout(r, 50));
      const extra = net.connect(srv.port, '127.0.0.1');
      sockets.push(extra);
      const closed = await new Promise<boolean>((resolve) => {
        extra.on('close', () => resolve(true));
        extra.on('error', () => undefined);
        extra.once('connect', () => extra.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'));
        extra.on('data', () => resolve(false));
      });
      expect(closed, 'the extra connection was closed without an answer').to.equal(true);
    } finally {
      sockets.forEach((s) => s.destroy());
      await srv.close();
    }
  });

  it('answers /healthz, 404 elsewhere, 405 for POST', async function () {
    const srv = await startMetricsServer(createMetrics(INFO), { host: '127.0.0.1', port: 0 });
    try {
      expect((await get(srv.port, '/healthz')).status).to.equal(200);
      expect((await get(srv.port, '/')).status).to.equal(404);
      expect((await get(srv.port, '/metricsx')).status).to.equal(404);
      expect((await get(srv.port, '/metrics', 'POST')).status).to.equal(405);
    } finally {
      await srv.close();
    }
  });

  it('two servers in one process keep separate registries (no global default registry)', function () {
    const a = createMetrics(INFO);
    const b = createMetrics(INFO);
    a.dropped.inc({ reason: 'queue_full' }, 5);
    return Promise.all([a.registry.metrics(), b.registry.metrics()]).then(([ta, tb]) => {
      expect(sumSamples(parsePrometheusText(ta), 'inference_dropped_total', { reason: 'queue_full' })).to.equal(5);
      expect(sumSamples(parsePrometheusText(tb), 'inference_dropped_total', { reason: 'queue_full' })).to.equal(0);
    });
  });

  it('the interceptor counts real RPCs by method, type and code, with handling time, and returns in-flight to 0', async function () {
    const m = createMetrics(INFO);
    const server = await startTinyServer(grpc.ServerCredentials.createInsecure(), [metricsInterceptor(m)]);
    const client = new InferenceServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      for (let i = 0; i < 3; i++) await ping(client, i);
      await new Promise((resolve) => client.getServerInfo({}, () => resolve(undefined)));
      const fams = parsePrometheusText(await m.registry.metrics());
      const ping3 = { grpc_service: 'inference.v1.InferenceService', grpc_method: 'Ping', grpc_type: 'unary' };
      expect(sumSamples(fams, 'grpc_server_started_total', ping3)).to.equal(3);
      expect(sumSamples(fams, 'grpc_server_handled_total', { ...ping3, grpc_code: 'OK' })).to.equal(3);
      expect(sumSamples(fams, 'grpc_server_handling_seconds_count', ping3)).to.equal(3);
      expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'GetServerInfo', grpc_code: 'UNIMPLEMENTED' })).to.equal(1);
      expect(sumSamples(fams, 'grpc_server_in_flight_calls')).to.equal(0);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('the text checker itself rejects broken exposition', function () {
    expect(() => parsePrometheusText('# HELP x h\n# TYPE x counter\nx{a="1"} 1\n')).to.not.throw();
    expect(() => parsePrometheusText('x 1\n')).to.throw(/without a preceding # TYPE/);
    expect(() => parsePrometheusText('# HELP x h\n# TYPE x counter\nx{a=1} 1\n')).to.throw(/not a valid sample/);
    expect(() => parsePrometheusText('# TYPE x counter\nx 1\n')).to.throw(/no # HELP/);
    expect(() =>
      parsePrometheusText('# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n'),
    ).to.throw(/not cumulative/);
    expect(statusName(16)).to.equal('UNAUTHENTICATED');
  });
});
