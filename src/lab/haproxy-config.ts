/**
 * The lab edge's configuration (HAProxy 2.6): the same routes, timeouts, auth and health settings as the
 * production edge, deploy/envoy/envoy.yaml, line for line where HAProxy has the feature. docs/DEPLOY.md
 * maps each Envoy setting to its line here, and test/edge-parity.test.ts fails when either file gains a
 * route, timeout or health setting the other lacks.
 *
 * What HAProxy 2.6 does differently, and why it is still the same contract:
 *  - health: HAProxy cannot speak grpc.health.v1 in an active check (an h2 check fails with "Socket
 *    error"), so it asks the server's HTTP readiness endpoint, GET /readyz on the metrics port, which
 *    mirrors grpc.health.v1 "" (200 SERVING, else 503);
 *  - retries: 2.6 knows no `refused-stream`; `conn-failure` is the only retry condition for a call the
 *    server cannot have processed, so it is the only one (Envoy retries refused streams and connect failures);
 *  - `x-envoy-upstream-service-time` is %Tr, the time the edge waited for the upstream's response headers
 *    (integer ms), the figure Envoy's router puts in that header.
 */
import { SERVERS, SERVER_GRPC_PORT, SERVER_METRICS_PORT, SERVER_WEB_PORT, PROXY_PORTS, TUNNEL, EDGE_ADDRESS, EDGE_PORT, type ServerName } from './topology';

/** Values copied from deploy/envoy/envoy.yaml (the parity test reads both files to keep them equal). */
export const HAPROXY_EDGE = {
  connectTimeout: '2s',
  requestHeadersTimeout: '10s',
  streamIdleTimeout: '300s',
  connectionIdleTimeout: '3600s',
  checkTimeout: '2s',
  checkInterval: '5s',
  checkFall: 2,
  checkRise: 1,
  maxConcurrentStreams: 1024,
  initialStreamWindow: 1048576,
  retries: 2,
  jwtIssuer: 'https://dev.realtime-inference.local',
  jwtAudience: 'inference.v1.InferenceService',
  jwtClockSkewS: 60,
  readinessPath: '/readyz',
  /** The page's files (no token: a browser fetches them before it has one), as Envoy's page route. */
  pagePathRegex: '^/(index\\.html|app\\.js|app\\.css)?$',
  /** Exact paths callable without a token (external probes), as Envoy's jwt_authn rules. */
  healthPaths: ['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch'],
} as const;

export interface HaproxyConfigInput {
  /** Directory of the stats socket. */
  dir: string;
  edgePem: string;
  jwtPublicKey: string;
  /** Send gRPC through the impairment proxies on the edge's loopback instead of straight into the tunnel. */
  viaProxy: boolean;
}

function serverLine(s: ServerName, viaProxy: boolean): string {
  const tunnel = TUNNEL[s].ipv4;
  const target = viaProxy ? `127.0.0.1:${PROXY_PORTS[s]}` : `${tunnel}:${SERVER_GRPC_PORT}`;
  // The check goes straight through the tunnel to the readiness endpoint, never through the proxy: a
  // delay injected for a measurement must not change when a replica counts as up.
  return `  server ${s} ${target} proto h2 check check-proto h1 addr ${tunnel} port ${SERVER_METRICS_PORT}`;
}

/**
 * The web backend: the page's files and gRPC-web calls go to the server's web port (HTTP/1.1, which
 * gRPC-web is made for), never through the impairment proxy (it sits in front of the gRPC port only).
 */
function webServerLine(s: ServerName): string {
  const tunnel = TUNNEL[s].ipv4;
  return `  server ${s} ${tunnel}:${SERVER_WEB_PORT} check addr ${tunnel} port ${SERVER_METRICS_PORT}`;
}

/** One request per line: who, which replica, and where the time went (HAProxy's timers, ms). */
export const ACCESS_LOG_FORMAT = '%ci:%cp [%tr] %ft %b/%s TR=%TR Tw=%Tw Tc=%Tc Tr=%Tr Ta=%Ta status=%ST bytes=%B term=%tsc retries=%rc %HM %HP';

/** A backend over both servers: the same balancing, checks and retries for gRPC and for the web port. */
function backend(name: string, servers: string[]): string[] {
  const e = HAPROXY_EDGE;
  return [
    `backend ${name}`,
    '  balance leastconn',
    `  option httpchk GET ${e.readinessPath}`,
    '  http-check expect status 200',
    `  default-server inter ${e.checkInterval} fall ${e.checkFall} rise ${e.checkRise} pool-purge-delay ${e.connectionIdleTimeout}`,
    '  retry-on conn-failure',
    `  retries ${e.retries}`,
    '  option redispatch 1',
    ...servers,
    '',
  ];
}

export function renderHaproxyConfig(i: HaproxyConfigInput): string {
  const e = HAPROXY_EDGE;
  const unauth = (msg: string): string => `http-request return status 401 hdr grpc-status 16 hdr grpc-message "${msg}"`;
  const bind = (addr: string): string => `  bind ${addr}:${EDGE_PORT} ssl crt ${i.edgePem} alpn h2,http/1.1 ssl-min-ver TLSv1.2`;
  return [
    '# Lab edge, rendered by src/lab/haproxy-config.ts (npm run lab -- up). Production edge: deploy/envoy/envoy.yaml.',
    'global',
    '  log stdout format iso local0',
    `  stats socket ${i.dir}/haproxy.sock mode 600 level admin`,
    `  tune.h2.max-concurrent-streams ${e.maxConcurrentStreams}`,
    `  tune.h2.initial-window-size ${e.initialStreamWindow}`,
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option log-health-checks',
    `  timeout connect ${e.connectTimeout}`,
    `  timeout http-request ${e.requestHeadersTimeout}`,
    `  timeout client ${e.streamIdleTimeout}`,
    `  timeout server ${e.streamIdleTimeout}`,
    `  timeout http-keep-alive ${e.connectionIdleTimeout}`,
    `  timeout check ${e.checkTimeout}`,
    '',
    'frontend public',
    bind(EDGE_ADDRESS.ipv4),
    bind(`[${EDGE_ADDRESS.ipv6}]`),
    `  log-format "${ACCESS_LOG_FORMAT}"`,
    `  acl health path ${e.healthPaths.join(' ')}`,
    `  acl page path_reg ${e.pagePathRegex}`,
    '  acl grpcweb req.hdr(content-type) -m beg application/grpc-web',
    '  http-request set-var(txn.bearer) http_auth_bearer',
    "  http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg')",
    "  http-request set-var(txn.jwt_iss) var(txn.bearer),jwt_payload_query('$.iss')",
    "  http-request set-var(txn.jwt_aud) var(txn.bearer),jwt_payload_query('$.aud')",
    "  http-request set-var(txn.jwt_exp) var(txn.bearer),jwt_payload_query('$.exp','int')",
    `  http-request set-var(txn.jwt_deadline) date(-${e.jwtClockSkewS})`,
    `  ${unauth("missing authorization metadata: send 'authorization: Bearer <token>'")} if !health !page !{ var(txn.bearer) -m found }`,
    `  ${unauth('invalid token')} if !health !page !{ var(txn.jwt_alg) -m str ES256 }`,
    `  ${unauth('invalid token')} if !health !page !{ var(txn.bearer),jwt_verify(txn.jwt_alg,"${i.jwtPublicKey}") -m int 1 }`,
    `  ${unauth('invalid token: issuer')} if !health !page !{ var(txn.jwt_iss) -m str ${e.jwtIssuer} }`,
    `  ${unauth('invalid token: audience')} if !health !page !{ var(txn.jwt_aud) -m str ${e.jwtAudience} }`,
    `  ${unauth('invalid token: no exp claim')} if !health !page !{ var(txn.jwt_exp) -m found }`,
    `  ${unauth('invalid token: expired')} if !health !page { var(txn.jwt_exp),sub(txn.jwt_deadline) -m int lt 0 }`,
    '  http-response set-header x-envoy-upstream-service-time %Tr',
    '  use_backend web if page || grpcweb',
    '  default_backend inference',
    '',
    ...backend('inference', SERVERS.map((s) => serverLine(s, i.viaProxy))),
    ...backend('web', SERVERS.map(webServerLine)),
  ].join('\n');
}
