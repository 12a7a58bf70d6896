/**
 * Envoy (deploy/envoy/envoy.yaml, the production edge) and HAProxy (the lab edge, rendered by
 * src/lab/haproxy-config.ts) carry the same routes, timeouts and health settings. Every such setting of
 * either file must appear in PARITY below, paired with its counterpart and the same value, or marked as
 * having none with the reason; docs/DEPLOY.md lists every row. A setting added to one file alone fails.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as YAML from 'yaml';
import { renderHaproxyConfig } from '../src/lab/haproxy-config';
import { ENVOY_YAML } from '../src/lab/envoy-config';

const DEPLOY_MD = path.resolve(__dirname, '..', '..', 'docs', 'DEPLOY.md');

interface ParityRow {
  /** Envoy setting: its path in the YAML with list positions dropped (e.g. clusters.health_checks.interval). */
  envoy: string;
  /** HAProxy setting, as extracted from the rendered config (e.g. "timeout connect", "default-server inter"); null = none. */
  haproxy: string | null;
  /** Why one side has no counterpart (required when either side is null). */
  why?: string;
}

/** The mapping docs/DEPLOY.md shows as a table. */
export const PARITY: ParityRow[] = [
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.match.prefix', haproxy: 'default_backend' },
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.match.safe_regex.regex', haproxy: 'acl page path_reg' },
  { envoy: 'listeners.filter_chains.filters.typed_config.http_filters.typed_config.rules.match.safe_regex.regex', haproxy: 'acl page path_reg' },
  { envoy: 'listeners.filter_chains.filters.typed_config.http_filters.typed_config.rules.match.path', haproxy: 'acl health path' },
  { envoy: 'listeners.filter_chains.filters.typed_config.http_filters.typed_config.rules.match.prefix', haproxy: null, why: 'the token rule for every other path: HAProxy asks for the token unless `acl health` matched' },
  { envoy: 'overload_manager.refresh_interval', haproxy: null, why: 'the lab edge has no overload manager: one HAProxy on one machine, bounded by maxconn and tune.h2.max-concurrent-streams' },
  { envoy: 'listeners.filter_chains.filters.typed_config.request_headers_timeout', haproxy: 'timeout http-request' },
  { envoy: 'listeners.filter_chains.filters.typed_config.stream_idle_timeout', haproxy: 'timeout client' },
  { envoy: 'listeners.filter_chains.filters.typed_config.stream_idle_timeout', haproxy: 'timeout server' },
  { envoy: 'listeners.filter_chains.filters.typed_config.common_http_protocol_options.idle_timeout', haproxy: 'timeout http-keep-alive' },
  { envoy: 'listeners.filter_chains.filters.typed_config.request_timeout', haproxy: null, why: '0s = none; HAProxy sets no whole-request timeout either (streams may last hours)' },
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.route.timeout', haproxy: null, why: '0s = none; HAProxy has no per-route timeout, and sets none' },
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.route.max_stream_duration.grpc_timeout_header_max', haproxy: null, why: "0s = the caller's grpc-timeout, uncapped; HAProxy passes grpc-timeout through to the server, which enforces it" },
  { envoy: 'clusters.connect_timeout', haproxy: 'timeout connect' },
  { envoy: 'clusters.typed_extension_protocol_options.common_http_protocol_options.idle_timeout', haproxy: 'default-server pool-purge-delay' },
  { envoy: 'clusters.typed_extension_protocol_options.explicit_http_config.http2_protocol_options.connection_keepalive.interval', haproxy: null, why: 'HAProxy 2.6 sends no HTTP/2 PING upstream; the active check finds a dead replica instead' },
  { envoy: 'clusters.typed_extension_protocol_options.explicit_http_config.http2_protocol_options.connection_keepalive.timeout', haproxy: null, why: 'as above' },
  { envoy: 'clusters.health_checks.timeout', haproxy: 'timeout check' },
  { envoy: 'clusters.health_checks.interval', haproxy: 'default-server inter' },
  { envoy: 'clusters.health_checks.no_traffic_interval', haproxy: null, why: 'HAProxy checks every inter whether or not traffic flows (the same 5 s)' },
  { envoy: 'clusters.health_checks.initial_jitter', haproxy: null, why: 'HAProxy staggers its first checks across servers by itself' },
  { envoy: 'clusters.health_checks.unhealthy_threshold', haproxy: 'default-server fall' },
  { envoy: 'clusters.health_checks.healthy_threshold', haproxy: 'default-server rise' },
  { envoy: 'clusters.health_checks.grpc_health_check.service_name', haproxy: 'option httpchk', why: 'HAProxy 2.6 cannot send a grpc.health.v1 check; GET /readyz on the metrics port mirrors the server health (SERVING → 200)' },
  { envoy: 'clusters.outlier_detection.interval', haproxy: null, why: 'passive ejection is not mirrored: the lab edge takes replicas out by the active check alone' },
  { envoy: 'clusters.outlier_detection.base_ejection_time', haproxy: null, why: 'as above' },
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.route.retry_policy.num_retries', haproxy: 'retries' },
  { envoy: 'listeners.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.route.retry_policy.retry_on', haproxy: 'retry-on', why: 'only calls no server processed: HAProxy 2.6 has no refused-stream condition, so it retries connect failures alone (a call refused by a draining server fails; the drain delay keeps that from happening)' },
  { envoy: 'clusters.circuit_breakers.thresholds.max_retries', haproxy: null, why: 'HAProxy has no cluster-wide retry budget; each call is retried at most `retries` times' },
];

type Obj = Record<string, unknown>;

/** Envoy settings that are routes, timeouts or health settings, as path → value (list positions dropped). */
export function envoySettings(cfg: unknown): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  const walk = (v: unknown, p: string[]): void => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, p));
    if (v === null || typeof v !== 'object') {
      const key = p[p.length - 1] ?? '';
      const joined = p.join('.');
      const isRoute = /\.match\.(prefix|path|safe_regex\.regex)$/.test(joined);
      if (isRoute || /(timeout|interval|threshold|jitter|_time|_header_max|max_retries|retry_on|num_retries)$/.test(key) || key === 'service_name') {
        // Typed-extension names (envoy.extensions….HttpProtocolOptions) are keys too; the path skips them.
        const k = p.filter((s) => s !== 'static_resources' && !s.includes('.')).join('.');
        out.set(k, [...(out.get(k) ?? []), v]);
      }
      return;
    }
    for (const [k, x] of Object.entries(v as Obj)) if (k !== 'admin') walk(x, [...p, k]);
  };
  walk(cfg, []);
  return out;
}

/** HAProxy settings of the same kinds, as "directive" → value. */
export function haproxySettings(cfg: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (k: string, v: string): void => void out.set(k, [...(out.get(k) ?? []), v]);
  for (const raw of cfg.split('\n')) {
    const l = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^timeout (\S+) (\S+)$/.exec(l))) add(`timeout ${m[1]}`, m[2]);
    else if ((m = /^acl health path (.+)$/.exec(l))) for (const x of m[1].split(' ')) add('acl health path', x);
    else if ((m = /^acl page path_reg (\S+)$/.exec(l))) add('acl page path_reg', m[1]);
    else if ((m = /^(default_backend|use_backend) (\S+)/.exec(l))) add('default_backend', m[2]);
    else if ((m = /^option httpchk (.+)$/.exec(l))) add('option httpchk', m[1]);
    else if ((m = /^retries (\d+)$/.exec(l))) add('retries', m[1]);
    else if ((m = /^retry-on (.+)$/.exec(l))) add('retry-on', m[1]);
    else if (/^(default-server|server) /.test(l)) {
      for (const kw of ['inter', 'fall', 'rise', 'pool-purge-delay', 'fastinter', 'downinter', 'timeout']) {
        const v = new RegExp(`\\s${kw} (\\S+)`).exec(l);
        if (v) add(`default-server ${kw}`, v[1]);
      }
    }
  }
  return out;
}

/** "5s", "300s", "2" (HAProxy: ms unless suffixed), numbers → seconds or plain numbers for comparison. */
function norm(v: unknown): string {
  const s = String(v);
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m) return s;
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'] ?? 1;
  return String(Number(m[1]) * mult);
}

describe('edge parity: Envoy (deploy/envoy/envoy.yaml) and the lab edge (HAProxy) have the same routes, timeouts and health settings', function () {
  const envoy = envoySettings(YAML.parse(fs.readFileSync(ENVOY_YAML, 'utf8')));
  const haproxy = haproxySettings(renderHaproxyConfig({ dir: '/lab', edgePem: '/lab/edge.pem', jwtPublicKey: '/lab/jwt.pem', viaProxy: false }));

  it('every such Envoy setting has a row, and every row names a setting Envoy has', function () {
    const rows = new Set(PARITY.map((r) => r.envoy).filter((e) => !e.startsWith('(')));
    expect([...envoy.keys()].filter((k) => !rows.has(k)), 'Envoy settings without a row in PARITY').to.deep.equal([]);
    expect([...rows].filter((k) => !envoy.has(k)), 'rows naming an Envoy setting that is gone').to.deep.equal([]);
  });

  it('every such HAProxy setting has a row, and every row names a setting HAProxy has', function () {
    const rows = new Set(PARITY.map((r) => r.haproxy).filter((h): h is string => h !== null));
    expect([...haproxy.keys()].filter((k) => !rows.has(k)), 'HAProxy settings without a row in PARITY').to.deep.equal([]);
    expect([...rows].filter((k) => !haproxy.has(k)), 'rows naming a HAProxy setting that is gone').to.deep.equal([]);
  });

  it('paired settings have the same value; an unpaired one says why', function () {
    const special: Record<string, (e: unknown[], h: string[]) => boolean> = {
      // Routes: Envoy's one catch-all route goes to the one cluster HAProxy sends everything to.
      // …and the page's files (Envoy's regex route to inference-web) go to the web backend, as do gRPC-web
      // calls: Envoy's grpc_web filter turns them into gRPC for the gRPC port, HAProxy (no such filter)
      // hands them to the servers' web port, which speaks gRPC-web itself.
      default_backend: (e, h) => e.length === 1 && e[0] === '/' && JSON.stringify([...h].sort()) === JSON.stringify(['inference', 'web']),
      'acl health path': (e, h) => JSON.stringify([...e].map(String).sort()) === JSON.stringify([...h].sort()),
      'retry-on': (e, h) => e[0] === 'refused-stream,connect-failure' && h[0] === 'conn-failure',
      'option httpchk': (e, h) => e[0] === 'inference.v1.InferenceService' && h[0] === 'GET /readyz',
    };
    for (const r of PARITY) {
      if (r.haproxy === null || r.envoy.startsWith('(')) {
        expect(r.why, `${r.envoy}: why HAProxy has no counterpart`).to.be.a('string').and.not.equal('');
        continue;
      }
      const e = envoy.get(r.envoy)!;
      const h = haproxy.get(r.haproxy)!;
      if (special[r.haproxy]) {
        expect(special[r.haproxy](e, h), `${r.envoy} = ${JSON.stringify(e)} vs ${r.haproxy} = ${JSON.stringify(h)}`).to.equal(true);
        continue;
      }
      // A setting repeated with one value (the gRPC cluster and the web port's cluster) is one setting.
      const distinct = (xs: unknown[]): string[] => [...new Set(xs.map(norm))];
      expect(distinct(h), `${r.envoy} = ${JSON.stringify(e)} vs ${r.haproxy} = ${JSON.stringify(h)}`).to.deep.equal(distinct(e));
    }
  });

  it('docs/DEPLOY.md maps every row', function () {
    const doc = fs.readFileSync(DEPLOY_MD, 'utf8');
    for (const r of PARITY) {
      const leaf = r.envoy.startsWith('(') ? r.envoy : r.envoy.split('.').slice(-3).join('.');
      expect(doc, `DEPLOY.md lists ${leaf}`).to.include(`\`${leaf}\``);
      if (r.haproxy) expect(doc, `DEPLOY.md lists ${r.haproxy}`).to.include(`\`${r.haproxy}\``);
    }
  });

  it('the checker catches a setting added to one side only', function () {
    const cfg = YAML.parse(fs.readFileSync(ENVOY_YAML, 'utf8')) as { static_resources: { clusters: Array<Record<string, unknown>> } };
    cfg.static_resources.clusters[0].per_connection_idle_timeout = '5s';
    expect([...envoySettings(cfg).keys()]).to.include('clusters.per_connection_idle_timeout');
    const extra = haproxySettings('defaults\n  timeout tunnel 1h\n');
    expect([...extra.keys()]).to.deep.equal(['timeout tunnel']);
  });
});
