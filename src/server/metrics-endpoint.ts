/**
 * The Prometheus endpoint on its own port (GET /metrics), with liveness (GET /livez, also /healthz) and
 * readiness (GET /readyz: 200 while grpc.health.v1 "" is SERVING, else 503) for checkers that speak only
 * HTTP/1.1 (HAProxy's active checks, most cloud load balancers). startMetricsEndpoint: once the model is
 * warm, label the info gauge with what is actually served, point the scrape-time gauges at the batcher and
 * engine, and open the port.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServedModel } from '../models/served-model';
import { bearerToken, tokenDigest, tokenMatches } from './auth';
import type { Batcher } from './batcher';
import type { ServerMetrics } from './metrics';
import { serverVersion } from './versions';

export interface MetricsEndpoint {
  port: number;
  close(): Promise<void>;
}

/**
 * The metrics were created before the model loaded (so the interceptor counts from the first call) with the
 * requested model and backend; relabel them with what was loaded, then serve them.
 */
export function startMetricsEndpoint(
  m: ServerMetrics,
  o: { served: ServedModel; batcher: Batcher; host: string; port: number; isServing: () => boolean; tokens?: string[] },
): Promise<MetricsEndpoint> {
  const { engine, descriptor } = o.served;
  m.info.reset();
  m.info.set(
    {
      model: descriptor.name,
      backend: engine.info.backend,
      execution_provider: engine.info.executionProvider,
      weights: descriptor.weights,
      input_size: String(descriptor.inputHeight),
      version: serverVersion(),
    },
    1,
  );
  m.setQueueDepthSource(() => o.batcher.stats().queued);
  m.setLiveTensorsSource(() => engine.liveTensors());
  return startMetricsServer(m, { host: o.host, port: o.port, isServing: o.isServing, tokens: o.tokens });
}

const PATHS = new Set(['/metrics', '/livez', '/healthz', '/readyz']);
const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

/** Scrapers and probes hold a few connections each; more than this from anyone are refused at accept. */
export const MAX_METRICS_CONNECTIONS = 32;

/**
 * Serves GET /metrics (Prometheus text format 0.0.4), /livez (= /healthz) and /readyz; everything else is
 * 404/405. Without `isServing`, /readyz answers as /livez. With `tokens`, /metrics needs
 * `authorization: Bearer <token>` (probes of /livez and /readyz never do: they reveal one bit).
 * At most MAX_METRICS_CONNECTIONS connections, and a request must arrive within seconds.
 */
export async function startMetricsServer(
  m: ServerMetrics,
  o: { host: string; port: number; isServing?: () => boolean; tokens?: string[] },
): Promise<MetricsEndpoint> {
  const digests = (o.tokens ?? []).map(tokenDigest);
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (!PATHS.has(url)) {
      res.writeHead(404, TEXT).end('not found: try /metrics, /livez or /readyz\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...TEXT, allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (url === '/livez' || url === '/healthz') {
      res.writeHead(200, TEXT).end(req.method === 'HEAD' ? undefined : 'ok\n');
      return;
    }
    if (url === '/readyz') {
      const ready = o.isServing?.() ?? true;
      res.writeHead(ready ? 200 : 503, TEXT).end(req.method === 'HEAD' ? undefined : ready ? 'SERVING\n' : 'NOT_SERVING\n');
      return;
    }
    if (digests.length > 0) {
      const token = bearerToken(String(req.headers.authorization ?? ''));
      if (token === undefined || !tokenMatches(token, digests)) {
        res.writeHead(401, { ...TEXT, 'www-authenticate': 'Bearer' }).end('unauthorized: send authorization: Bearer <token> (--metrics-tokens-file)\n');
        return;
      }
    }
    m.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': m.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics collection failed: ${String(e)}\n`);
      },
    );
  });
  server.maxConnections = MAX_METRICS_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        // Scrapers keep connections alive; don't let them hold shutdown hostage.
        server.closeAllConnections();
      }),
  };
}
