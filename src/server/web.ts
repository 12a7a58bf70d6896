/**
 * The web port (`--web-port`): gRPC-web and the Connect protocol (JSON and binary) for browsers and curl,
 * and the browser page (web-page.ts), on HTTP/1.1 (plaintext) or HTTPS with HTTP/2 and HTTP/1.1 (the same
 * --tls-* files as the gRPC port, mutual TLS included). The RPCs reach the gRPC port's own handlers
 * (web-service.ts) with the same auth and metrics (web-interceptors.ts), the same batcher and limits: one
 * server, two doors. They share the gRPC port's budget of request bytes not yet processed
 * (`--max-pending-bytes`, web-ingress.ts) and its connection idle and age limits (web-connection-limits.ts).
 *
 * CORS: only the origins given with --web-origins, matched exactly (scheme, host and port), get
 * Access-Control-* headers; a preflight from any other origin is refused (403). The page itself needs no
 * CORS: it calls the origin that served it.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Code, cors as connectCors, createContextValues, type Interceptor } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { InferenceServiceServer } from '../gen/inference/v1/inference';
import type { Logger } from './log';
import type { ServerMetrics } from './metrics';
import { readPem, type TlsFiles } from './tls';
import type { TokenSet } from './auth';
import { certificateIdentities } from './client-identity';
import { CLIENT_IDENTITIES, countUnauthenticated, PEER, webAuthFailure, webClientIdentityInterceptor, webMetricsInterceptor } from './web-interceptors';
import { loadPage } from './web-page';
import { WEB_METHOD_PATHS, webRoutes } from './web-service';
import { limitSessions, type ConnectionLimits } from './web-connection-limits';
import { createWebIngress, INGRESS_RELEASE, pathOf, type ByteBudget } from './web-ingress';

export interface WebServerOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  tls: TlsFiles;
  /** --tls-allowed-client: the client certificate identities admitted (empty: any the CA signed). */
  allowedClients: readonly string[];
  /** Exact origins allowed cross-origin (e.g. https://app.example.com:8443). */
  origins: string[];
  /** The handler object the gRPC port serves. */
  handlers: InferenceServiceServer;
  /** The gRPC port's tokens (reloaded with it on SIGHUP); undefined: no auth. */
  tokens: TokenSet | undefined;
  exemptMethods: string[];
  metrics?: ServerMetrics;
  maxMessageBytes: number;
  /** The gRPC port's budget of request bytes received and not yet handed to a handler (its ingress guard). */
  budget: ByteBudget;
  /** The gRPC port's connection idle and age limits, for HTTP/2 sessions (HTTPS). */
  connectionLimits: ConnectionLimits;
  /** HTTP/2 (HTTPS) streams per connection, as --max-concurrent-streams on the gRPC port. */
  maxConcurrentStreams: number;
  log: Logger;
  /** Where the built page is (default dist/web). */
  pageDir?: string;
}

export interface WebServer {
  port: number;
  /** Stops accepting, lets requests in flight finish for up to graceMs, then closes what is left. */
  close(graceMs: number): Promise<void>;
}

/** Throws for anything that is not an exact origin: scheme://host[:port], no path, no wildcard. */
export function checkOrigins(origins: readonly string[]): string[] {
  for (const o of origins) {
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o) && !/^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(o)) {
      throw new Error(`--web-origins: "${o}" is not an exact origin (scheme://host[:port], e.g. https://app.example.com:8443; no path, no trailing slash, no wildcard)`);
    }
  }
  return [...origins];
}

/**
 * HTTP/1.1: the request line and headers must arrive within 10 s, the whole request within 60 s, and a
 * connection between requests is closed after 5 s (Node's own default for plaintext).
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

const ALLOWED_HEADERS = [...connectCors.allowedHeaders, 'Authorization'].join(', ');
const EXPOSED_HEADERS = connectCors.exposedHeaders.join(', ');
const ALLOWED_METHODS = connectCors.allowedMethods.join(', ');

/** Sets CORS headers for an allowed origin; answers a preflight. True when the request was answered. */
function handleCors(req: http.IncomingMessage, res: http.ServerResponse, origins: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  res.setHeader('vary', 'Origin');
  if (origin === undefined || !origins.has(origin)) {
    if (!preflight) return false;
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('origin not allowed (--web-origins)\n');
    return true;
  }
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
  if (!preflight) return false;
  res.writeHead(204, {
    'access-control-allow-methods': ALLOWED_METHODS,
    'access-control-allow-headers': ALLOWED_HEADERS,
    'access-control-max-age': '7200',
  });
  res.end();
  return true;
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const origins = new Set(checkOrigins(o.origins));
  const page = loadPage(o.pageDir);
  if (!page.built) o.log.warn('web port: the page is not built (dist/web missing); the RPCs work, the page answers 503 until `npm run build`');
  const auth = o.tokens ? webAuthFailure({ tokens: o.tokens, exemptMethods: o.exemptMethods, rpcPaths: WEB_METHOD_PATHS }) : undefined;
  const ingress = createWebIngress(o.budget, {
    maxMessageBytes: o.maxMessageBytes,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    authFailure: auth && ((req) => auth(pathOf(req), typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined)),
    onRefused: (path, why) => {
      o.log.debug('call refused at ingress', { reason: codeToString(why), method: path, port: 'web' });
      if (why === Code.Unauthenticated && o.metrics) countUnauthenticated(o.metrics, path);
    },
  });
  // First: the reservation goes back as soon as the message is decoded, whatever the later ones decide.
  const interceptors: Interceptor[] = [ingress.interceptor];
  if (o.metrics) interceptors.push(webMetricsInterceptor(o.metrics));
  if (o.allowedClients.length > 0) interceptors.push(webClientIdentityInterceptor(o.allowedClients));
  const rpc = connectNodeAdapter({
    routes: webRoutes(o.handlers),
    interceptors,
    readMaxBytes: o.maxMessageBytes,
    writeMaxBytes: o.maxMessageBytes,
    // Compressed requests are refused (UNIMPLEMENTED), as on the gRPC port: images are compressed already,
    // and a few kB of gzip would inflate to the message limit (docs/SECURITY.md).
    acceptCompression: [],
    contextValues: (req) => {
      const socket = req.socket as Partial<TLSSocket>;
      const values = createContextValues()
        .set(PEER, `web:${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`)
        .set(INGRESS_RELEASE, ingress.releaseOf(req));
      return typeof socket.getPeerCertificate === 'function' ? values.set(CLIENT_IDENTITIES, certificateIdentities(socket.getPeerCertificate())) : values;
    },
    fallback: (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
    },
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (handleCors(req, res, origins)) return;
    if (page.serve(req, res)) return;
    if (!ingress.admit(req, res)) return;
    rpc(req, res);
  };

  let server: http.Server | http2.Http2SecureServer;
  if (o.tls.certFile && o.tls.keyFile) {
    const ca = o.tls.caFile ? readPem(o.tls.caFile, 'CA bundle', '--tls-ca') : undefined;
    server = http2.createSecureServer(
      {
        cert: readPem(o.tls.certFile, 'certificate', '--tls-cert'),
        key: readPem(o.tls.keyFile, 'private key', '--tls-key'),
        ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
        allowHTTP1: true,
        settings: { maxConcurrentStreams: o.maxConcurrentStreams },
      },
      handle as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    limitSessions(server, o.connectionLimits);
    // HTTP/1.1 over TLS (allowHTTP1) takes the plaintext server's limits: Node sets only 60 s / 300 s for the
    // headers and the request there, and no keep-alive timeout at all, so an idle connection would stay.
    Object.assign(server, { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
  } else {
    server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, handle);
  }
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const listen = (host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const where = host.includes(':') ? `[${host}]:${o.port}` : `${host}:${o.port}`;
      const onError = (err: Error): void => reject(new Error(`cannot bind the web port ${where}: ${err.message}`));
      server.once('error', onError);
      server.listen(o.port, host, () => {
        server.off('error', onError);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : o.port);
      });
    });
  let port: number;
  try {
    port = await listen(o.host);
  } catch (err) {
    if (o.host !== '::' || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test(String(err))) throw err;
    port = await listen('0.0.0.0');
  }

  let closing: Promise<void> | undefined;
  return {
    port,
    close(graceMs: number): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => sockets.forEach((s) => s.destroy()), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      return closing;
    },
  };
}
