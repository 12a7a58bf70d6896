import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as YAML from 'yaml';
import { InferenceServiceClient } from '../src/gen/inference/v1/inference';
import { INFERENCE_SERVICE_NAME } from '../src/server/health';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { validateEnvoyConfig } from './helpers/envoy-validator';

const ROOT = path.resolve(__dirname, '..', '..');
const ENVOY_YAML = path.join(ROOT, 'deploy', 'envoy', 'envoy.yaml');
const COMPOSE_YAML = path.join(ROOT, 'deploy', 'docker-compose.yml');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking untyped YAML

function loadEnvoy(): Obj {
  return YAML.parse(fs.readFileSync(ENVOY_YAML, 'utf8')) as Obj;
}

function hcm(cfg: Obj): Obj {
  return cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

/** The route that carries gRPC and gRPC-web to the servers' gRPC port. */
function grpcRoute(cfg: Obj): Obj {
  const r = (hcm(cfg).route_config.virtual_hosts[0].routes as Obj[]).find((x) => x.name === 'inference-grpc');
  if (!r) throw new Error('no route named inference-grpc');
  return r;
}

function cluster(cfg: Obj, name = 'inference'): Obj {
  return (cfg.static_resources.clusters as Obj[]).find((c) => c.name === name)!;
}

describe('deploy/envoy/envoy.yaml (static validation against Envoy v3 API protos)', function () {
  it('parses as envoy.config.bootstrap.v3.Bootstrap with no unknown field, bad enum, bad duration or missing required field', function () {
    const r = validateEnvoyConfig(loadEnvoy());
    expect(r.errors, r.errors.join('\n')).to.deep.equal([]);
    // Every typed_config was resolved and checked against its own message type.
    expect([...r.anyTypes].sort()).to.include.members([
      'envoy.extensions.filters.http.cors.v3.Cors',
      'envoy.extensions.filters.http.cors.v3.CorsPolicy',
      'envoy.extensions.filters.http.grpc_web.v3.GrpcWeb',
      'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      'envoy.extensions.filters.http.router.v3.Router',
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    ]);
  });

  describe('the validator bites', function () {
    function errorsAfter(mutate: (cfg: Obj) => void): string[] {
      const cfg = loadEnvoy();
      mutate(cfg);
      return validateEnvoyConfig(cfg).errors;
    }

    it('a misspelt field deep in a health check is named by its full path', function () {
      const errors = errorsAfter((c) => {
        const g = cluster(c).health_checks[0].grpc_health_check;
        g.servce_name = g.service_name;
        delete g.service_name;
      });
      expect(errors).to.deep.equal([
        'static_resources.clusters[0].health_checks[0].grpc_health_check.servce_name: unknown field "servce_name" in envoy.config.core.v3.HealthCheck.GrpcHealthCheck',
      ]);
    });

    it('a misspelt field inside a typed_config Any (TLS context) is caught', function () {
      const errors = errorsAfter((c) => {
        const tls = c.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context;
        tls.alpn_protocol = tls.alpn_protocols;
        delete tls.alpn_protocols;
      });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.match(/transport_socket\.typed_config\.common_tls_context\.alpn_protocol: unknown field/);
    });

    it('catches an unknown @type, a bad enum, a non-Envoy duration and a missing required field', function () {
      const errors = errorsAfter((c) => {
        hcm(c).http_filters[0].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWebb';
        cluster(c).lb_policy = 'LEAST_REQUESTS';
        cluster(c).connect_timeout = '2 seconds';
        delete cluster(c).name;
        grpcRoute(c).typed_per_filter_config['envoy.filters.http.cors'].max_agee = '1';
      });
      const text = errors.join('\n');
      expect(text).to.match(/http_filters\[0\]\.typed_config\.@type: unknown type envoy\.extensions\.filters\.http\.grpc_web\.v3\.GrpcWebb/);
      expect(text).to.match(/clusters\[0\]\.lb_policy: unknown envoy\.config\.cluster\.v3\.Cluster\.LbPolicy value "LEAST_REQUESTS"/);
      expect(text).to.match(/clusters\[0\]\.connect_timeout: expected a duration/);
      expect(text).to.match(/clusters\[0\]\.name: required/);
      expect(text).to.match(/typed_per_filter_config\.envoy\.filters\.http\.cors\.max_agee: unknown field/);
      expect(errors).to.have.length(5);
    });

    it('accepts JSON (camelCase) names like Envoy does, and refuses deprecated fields and wrong value types', function () {
      const errors = errorsAfter((c) => {
        const cl = cluster(c);
        cl.connectTimeout = cl.connect_timeout; // JSON name: valid
        delete cl.connect_timeout;
        cl.http2_protocol_options = {}; // deprecated since v3.0 in favour of typed_extension_protocol_options
        cl.health_checks[0].unhealthy_threshold = 'two';
      });
      const text = errors.join('\n');
      expect(text).to.not.match(/connectTimeout/);
      expect(text).to.match(/clusters\[0\]\.http2_protocol_options: deprecated field/);
      expect(text).to.match(/health_checks\[0\]\.unhealthy_threshold: expected an integer/);
    });
  });

  describe('semantics', function () {
    const cfg = loadEnvoy();

    it('every route points at a cluster that exists', function () {
      const names = new Set((cfg.static_resources.clusters as Obj[]).map((c) => c.name as string));
      const routes = (hcm(cfg).route_config.virtual_hosts as Obj[]).flatMap((v) => v.routes as Obj[]);
      expect(routes).to.not.be.empty;
      for (const r of routes) {
        const targets: string[] = r.route.cluster ? [r.route.cluster] : (r.route.weighted_clusters?.clusters ?? []).map((w: Obj) => w.name);
        expect(targets, JSON.stringify(r.match)).to.not.be.empty;
        for (const t of targets) expect(names.has(t), `route to unknown cluster ${t}`).to.equal(true);
      }
    });

    it('health-checks the exact service name the server reports (grpc.health.v1)', function () {
      expect(INFERENCE_SERVICE_NAME).to.equal(InferenceServiceClient.serviceName);
      for (const c of cfg.static_resources.clusters as Obj[]) {
        expect(c.health_checks, c.name).to.have.length.greaterThan(0);
        expect(c.outlier_detection, c.name).to.be.an('object');
        // The web port serves the page's files over HTTP/1.1: checked by fetching the page.
        if (c.name === 'inference-web') for (const h of c.health_checks as Obj[]) expect(h.http_health_check.path).to.equal('/');
        else for (const h of c.health_checks as Obj[]) expect(h.grpc_health_check.service_name).to.equal(INFERENCE_SERVICE_NAME);
      }
    });

    it("serves the browser page's files (GET only) from the web port, without a token, and its RPCs through gRPC-web", function () {
      const routes = hcm(cfg).route_config.virtual_hosts[0].routes as Obj[];
      const page = routes.find((r) => r.name === 'inference-page') as Obj;
      expect(page, 'a route named inference-page').to.not.equal(undefined);
      expect(routes.indexOf(page), 'before the catch-all gRPC route').to.be.lessThan(routes.indexOf(grpcRoute(cfg)));
      expect(page.route.cluster).to.equal('inference-web');
      expect(page.match.headers).to.deep.equal([{ name: ':method', string_match: { exact: 'GET' } }]);
      const re = new RegExp(page.match.safe_regex.regex as string);
      for (const p of ['/', '/index.html', '/app.js', '/app.css']) expect(re.test(p), p).to.equal(true);
      for (const p of ['/inference.v1.InferenceService/Ping', '/app.js/x', '/appxjs', '/../app.js']) expect(re.test(p), p).to.equal(false);
      const ports = (cluster(cfg, 'inference-web').load_assignment.endpoints[0].lb_endpoints as Obj[]).map((e) => e.endpoint.address.socket_address.port_value);
      expect(new Set(ports)).to.deep.equal(new Set([8080]));
      const compose = YAML.parse(fs.readFileSync(COMPOSE_YAML, 'utf8'), { merge: true }) as Obj;
      expect(compose.services['inference-cpu-1'].environment.INFER_WEB_PORT).to.equal('8080');
      const jwt = ((hcm(cfg).http_filters as Obj[]).find((f) => f.name === 'envoy.filters.http.jwt_authn') as Obj).typed_config;
      const open = (jwt.rules as Obj[]).filter((r) => r.requires === undefined).map((r) => (r.match.safe_regex?.regex ?? r.match.path ?? r.match.prefix) as string);
      expect(open).to.include(page.match.safe_regex.regex);
      for (const p of ['/', '/app.js']) expect(open.filter((r) => r.startsWith('^')).some((r) => new RegExp(r).test(p)), p).to.equal(true);
    });

    it('speaks HTTP/2 upstream, balances by least request, and never times out long streams at the route', function () {
      const c = cluster(cfg);
      expect(c.lb_policy).to.equal('LEAST_REQUEST');
      expect(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).to.have.property('http2_protocol_options');
      const route = grpcRoute(cfg);
      expect(route.route.timeout).to.equal('0s');
      expect(route.route.max_stream_duration.grpc_timeout_header_max).to.equal('0s');
      expect(hcm(cfg).request_timeout).to.equal('0s');
    });

    it('terminates TLS with ALPN h2 and http/1.1, filters gRPC-web → CORS → JWT → router, and exposes the upstream time', function () {
      const tls = cfg.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context;
      expect(tls.alpn_protocols).to.deep.equal(['h2', 'http/1.1']);
      expect((hcm(cfg).http_filters as Obj[]).map((f) => f.name)).to.deep.equal([
        'envoy.filters.http.grpc_web', 'envoy.filters.http.cors', 'envoy.filters.http.jwt_authn', 'envoy.filters.http.router',
      ]);
      const router = (hcm(cfg).http_filters as Obj[])[3].typed_config;
      expect(router.suppress_envoy_headers ?? false).to.equal(false);
      const cors = grpcRoute(cfg).typed_per_filter_config['envoy.filters.http.cors'];
      const exposed = String(cors.expose_headers).split(',');
      expect(exposed).to.include.members(['grpc-status', 'grpc-message', 'x-envoy-upstream-service-time']);
      expect(String(cors.allow_headers).split(',')).to.include.members(['authorization', 'x-grpc-web', 'grpc-timeout']);
    });

    it('keeps the admin interface on localhost', function () {
      expect(cfg.admin.address.socket_address.address).to.equal('127.0.0.1');
    });
  });

  describe('hardening (each a finding of the security review)', function () {
    const cfg = loadEnvoy();
    const jwt = (): Obj => (hcm(cfg).http_filters as Obj[]).find((f) => f.name === 'envoy.filters.http.jwt_authn')!.typed_config;

    it('outlier detection ejects on connection failures only, never on statuses a server answered (tiny deadlines → 504)', function () {
      const od = cluster(cfg).outlier_detection;
      expect(od.split_external_local_origin_errors).to.equal(true);
      expect(od.consecutive_local_origin_failure).to.be.a('number');
      expect(od.enforcing_consecutive_local_origin_failure).to.equal(100);
      // Every detector of answered statuses is off (Envoy enforces consecutive_5xx at 100 % by default).
      expect(od.enforcing_consecutive_5xx).to.equal(0);
      expect(od.enforcing_consecutive_gateway_failure).to.equal(0);
      expect(od.enforcing_success_rate).to.equal(0);
      // And nothing configures a detector while leaving it unenforced by accident: each count has its enforcement.
      for (const k of Object.keys(od).filter((x) => x.startsWith('consecutive_'))) expect(od, k).to.have.property(`enforcing_${k}`);
    });

    it('CORS admits only whole development origins: http://localhost.evil.com is refused', function () {
      const cors = grpcRoute(cfg).typed_per_filter_config['envoy.filters.http.cors'];
      const matchers = cors.allow_origin_string_match as Obj[];
      const admits = (origin: string): boolean =>
        matchers.some((m) =>
          m.exact !== undefined ? m.exact === origin : m.safe_regex !== undefined ? new RegExp(m.safe_regex.regex).test(origin) : m.prefix !== undefined ? origin.startsWith(m.prefix) : false,
        );
      for (const ok of ['http://localhost', 'https://localhost:3000', 'http://127.0.0.1:8080']) expect(admits(ok), ok).to.equal(true);
      for (const bad of ['http://localhost.evil.com', 'https://127.0.0.1.evil.com', 'http://localhost:80@evil.com', 'https://evil.com/?http://localhost']) {
        expect(admits(bad), bad).to.equal(false);
      }
      expect(matchers.some((m) => m.prefix !== undefined || m.suffix !== undefined || m.contains !== undefined), 'no partial-origin matchers').to.equal(false);
    });

    it('an overload manager stops accepting requests before the heap is exhausted, and caps downstream connections', function () {
      const om = cfg.overload_manager;
      const monitors = (om.resource_monitors as Obj[]).map((m) => m.name);
      expect(monitors).to.include.members(['envoy.resource_monitors.fixed_heap', 'envoy.resource_monitors.global_downstream_max_connections']);
      const cap = (om.resource_monitors as Obj[]).find((m) => m.name === 'envoy.resource_monitors.global_downstream_max_connections')!.typed_config;
      expect(cap.max_active_downstream_connections).to.be.a('number').and.greaterThan(0);
      const stop = (om.actions as Obj[]).find((a) => a.name === 'envoy.overload_actions.stop_accepting_requests');
      expect(stop?.triggers[0].threshold.value).to.be.lessThan(1);
      expect(hcm(cfg).http2_protocol_options.max_concurrent_streams).to.be.at.most(100);
    });

    it("JWTs must carry an expiry, and only health Check and Watch (exact paths) and the page's static files skip the token", function () {
      expect(jwt().providers.dev.require_expiration).to.equal(true);
      const open = (jwt().rules as Obj[]).filter((r) => !r.requires);
      expect(open.map((r) => r.match)).to.deep.equal([{ path: '/grpc.health.v1.Health/Check' }, { path: '/grpc.health.v1.Health/Watch' }, { safe_regex: { regex: '^/(index\\.html|app\\.js|app\\.css)?$' } }]);
      const last = (jwt().rules as Obj[]).at(-1)!;
      expect(last).to.deep.equal({ match: { prefix: '/' }, requires: { provider_name: 'dev' } });
    });

    it('retries only what never reached a server (a draining replica\'s refused stream, a connect failure)', function () {
      const rp = grpcRoute(cfg).route.retry_policy;
      expect(String(rp.retry_on).split(',').sort()).to.deep.equal(['connect-failure', 'refused-stream']);
      expect(rp.num_retries).to.be.at.most(3);
    });

    it('the compose file says what forward: false means: upstreams get no client token, so no per-hop token advice', function () {
      const compose = fs.readFileSync(COMPOSE_YAML, 'utf8');
      expect(jwt().providers.dev.forward).to.equal(false);
      expect(compose).to.not.match(/require tokens hop by hop/i);
      expect(compose).to.match(/forward: false/);
    });
  });

  describe('edge auth artefacts from scripts/dev-certs.sh', function () {
    let certs: DevCerts;
    before(() => {
      certs = makeDevCerts();
    });
    after(() => certs.remove());

    it("the dev JWT verifies against the JWKS Envoy loads, with the provider's issuer and audience, and is not expired", function () {
      const jwt = hcm(loadEnvoy()).http_filters.find((f: Obj) => f.name === 'envoy.filters.http.jwt_authn').typed_config;
      const provider = jwt.providers.dev;
      const [h, p, s] = fs.readFileSync(certs.jwt, 'utf8').trim().split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg: string; kid: string };
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss: string; aud: string; exp: number };
      const jwks = JSON.parse(fs.readFileSync(certs.jwks, 'utf8')) as { keys: (crypto.JsonWebKey & { kid: string })[] };
      const jwk = jwks.keys.find((k) => k.kid === header.kid);
      expect(jwk, 'kid of the token is in the JWKS').to.not.equal(undefined);
      expect(header.alg).to.equal('ES256');
      const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: crypto.createPublicKey({ key: jwk!, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
      expect(ok).to.equal(true);
      expect(claims.iss).to.equal(provider.issuer);
      expect(provider.audiences).to.include(claims.aud);
      expect(claims.exp * 1000).to.be.greaterThan(Date.now());
      // A token signed by another key must fail the same check (the check above can fail).
      const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const forged = crypto.sign('sha256', Buffer.from(`${h}.${p}`), { key: other.privateKey, dsaEncoding: 'ieee-p1363' });
      expect(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: crypto.createPublicKey({ key: jwk!, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, forged)).to.equal(false);
    });

    it('every file Envoy reads (certs, key, JWKS) is mounted into the envoy container from a file dev-certs.sh makes', function () {
      const { filenames } = validateEnvoyConfig(loadEnvoy());
      expect(filenames.map((f) => f.file).sort()).to.deep.equal(['/etc/envoy/certs/server.crt', '/etc/envoy/certs/server.key', '/etc/envoy/jwt/jwks.json']);
      const compose = YAML.parse(fs.readFileSync(COMPOSE_YAML, 'utf8'), { merge: true }) as Obj;
      const mounts = (compose.services.envoy.volumes as string[]).map((v) => {
        const [src, dst, mode] = v.split(':');
        return { src, dst, mode };
      });
      for (const { file, path: where } of filenames) {
        const m = mounts.find((x) => x.dst === file || file.startsWith(x.dst.endsWith('/') ? x.dst : `${x.dst}/`));
        expect(m, `${file} (${where}) is not mounted in the envoy service`).to.not.equal(undefined);
        expect(m!.mode, `${file} should be mounted read-only`).to.equal('ro');
        const rel = m!.src + file.slice(m!.dst.length);
        // ./certs/* come from scripts/dev-certs.sh deploy/certs; map them onto the freshly generated set.
        const host = rel.startsWith('./certs/') ? path.join(certs.dir, rel.slice('./certs/'.length)) : path.join(ROOT, 'deploy', rel);
        expect(fs.existsSync(host), `${rel} → ${host} does not exist`).to.equal(true);
      }
      const envoyMount = mounts.find((x) => x.dst === '/etc/envoy/envoy.yaml');
      expect(envoyMount && path.resolve(ROOT, 'deploy', envoyMount.src)).to.equal(ENVOY_YAML);
    });
  });
});
