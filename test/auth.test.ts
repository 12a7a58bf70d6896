import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  authInterceptor,
  bearerToken,
  DEFAULT_AUTH_EXEMPT,
  INVALID_TOKEN_MESSAGE,
  isExempt,
  loadTokens,
  MALFORMED_TOKEN_MESSAGE,
  MISSING_TOKEN_MESSAGE,
  resolveExemptMethods,
  tokenMatches,
} from '../src/server/auth';
import { createMetrics, metricsInterceptor } from '../src/server/metrics';
import { parsePrometheusText, sumSamples } from './helpers/prometheus-text';
import { statusOf } from './helpers/grpc-client';
import { healthCheck, InferenceServiceClient, ping, startTinyServer, TinyServer } from './helpers/tiny-grpc-server';
import * as crypto from 'node:crypto';
import { suiteTempDir } from './helpers/temp-dir';

const TOKEN = 'tok_' + 'a'.repeat(40);

function bearer(value: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', value);
  return md;
}

describe('bearer-token auth interceptor', function () {
  const dir = suiteTempDir('rti-auth-');

  describe('against a real grpc-js server', function () {
    let server: TinyServer;
    let client: InferenceServiceClient;
    const metrics = createMetrics({ model: 'tiny', backend: 'none', weights: 'synthetic' });
    before(async function () {
      server = await startTinyServer(grpc.ServerCredentials.createInsecure(), [
        metricsInterceptor(metrics),
        authInterceptor({ tokens: ['other-token', TOKEN], exemptMethods: [...DEFAULT_AUTH_EXEMPT] }),
      ]);
      client = new InferenceServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    });
    after(async () => {
      client.close();
      await server.close();
    });

    it('no authorization metadata → UNAUTHENTICATED saying what to send, and the handler never runs', async function () {
      const before = server.pings();
      const e = await statusOf(ping(client, 1));
      expect(e.code).to.equal(grpc.status.UNAUTHENTICATED);
      expect(e.details).to.equal(MISSING_TOKEN_MESSAGE);
      expect(server.pings()).to.equal(before);
    });

    it('a wrong token → UNAUTHENTICATED "invalid token"', async function () {
      const e = await statusOf(ping(client, 2, bearer(`Bearer ${TOKEN}x`)));
      expect(e.code).to.equal(grpc.status.UNAUTHENTICATED);
      expect(e.details).to.equal(INVALID_TOKEN_MESSAGE);
      const e2 = await statusOf(ping(client, 2, bearer('Bearer t')));
      expect(e2.details).to.equal(INVALID_TOKEN_MESSAGE);
    });

    it('a non-Bearer scheme → UNAUTHENTICATED naming the expected form', async function () {
      const e = await statusOf(ping(client, 3, bearer(`Basic ${Buffer.from('u:p').toString('base64')}`)));
      expect(e.code).to.equal(grpc.status.UNAUTHENTICATED);
      expect(e.details).to.equal(MALFORMED_TOKEN_MESSAGE);
    });

    it('the right token (any configured one; scheme case-insensitive) is accepted', async function () {
      const before = server.pings();
      expect((await ping(client, 4, bearer(`Bearer ${TOKEN}`))).seq).to.equal(4n);
      expect((await ping(client, 5, bearer('bearer other-token'))).seq).to.equal(5n);
      expect(server.pings()).to.equal(before + 2);
    });

    it('health checks need no token (load balancers probe without credentials)', async function () {
      expect(await healthCheck(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure())).to.equal('SERVING');
    });

    it('rejected calls are counted in the metrics as UNAUTHENTICATED, accepted ones as OK', async function () {
      const fams = parsePrometheusText(await metrics.registry.metrics());
      expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Ping', grpc_code: 'UNAUTHENTICATED' })).to.equal(4);
      expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Ping', grpc_code: 'OK' })).to.equal(2);
      expect(sumSamples(fams, 'grpc_server_handled_total', { grpc_method: 'Check', grpc_code: 'OK' })).to.equal(1);
      expect(sumSamples(fams, 'grpc_server_in_flight_calls')).to.equal(0);
    });
  });

  it('Ping can be exempted (--auth-exempt health,ping) while Classify still needs a token', async function () {
    const server = await startTinyServer(grpc.ServerCredentials.createInsecure(), [
      authInterceptor({ tokens: [TOKEN], exemptMethods: resolveExemptMethods(['health', 'ping']) }),
    ]);
    const client = new InferenceServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      expect((await ping(client, 7)).seq).to.equal(7n);
      const e = await statusOf(
        new Promise((resolve, reject) => client.getServerInfo({}, (err, r) => (err ? reject(err) : resolve(r)))),
      );
      expect(e.code).to.equal(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
      await server.close();
    }
  });

  describe('token loading', function () {
    const saved = process.env.INFER_TOKENS;
    afterEach(() => {
      if (saved === undefined) delete process.env.INFER_TOKENS;
      else process.env.INFER_TOKENS = saved;
    });

    it('reads one token per line, skipping blanks and # comments, plus INFER_TOKENS (comma-separated)', function () {
      const f = path.join(dir.path, 'tokens');
      fs.writeFileSync(f, '# team tokens\n\n  alpha  \nbeta\r\n# gamma\n');
      process.env.INFER_TOKENS = ' delta, ,alpha';
      expect(loadTokens({ tokensFile: f })).to.deep.equal(['alpha', 'beta', 'delta']);
    });

    it('auth is off (no tokens) when neither file nor variable is set', function () {
      delete process.env.INFER_TOKENS;
      expect(loadTokens({})).to.deep.equal([]);
    });

    it('refuses an empty or unreadable tokens file instead of silently running without auth', function () {
      const empty = path.join(dir.path, 'empty');
      fs.writeFileSync(empty, '# nothing\n\n');
      expect(() => loadTokens({ tokensFile: empty })).to.throw(/holds no token/);
      expect(() => loadTokens({ tokensFile: path.join(dir.path, 'missing') })).to.throw(/cannot read --tokens-file/);
      const spaced = path.join(dir.path, 'spaced');
      fs.writeFileSync(spaced, 'two words\n');
      expect(() => loadTokens({ tokensFile: spaced })).to.throw(/whitespace/);
    });

    it('rejects a token value passed where the variable NAME belongs', function () {
      expect(() => loadTokens({ envVar: 'abc-123.def' })).to.throw(/variable name/);
      process.env.MY_TOKENS = 'x1';
      try {
        expect(loadTokens({ envVar: 'MY_TOKENS' })).to.deep.equal(['x1']);
      } finally {
        delete process.env.MY_TOKENS;
      }
    });

    it('an interceptor with no tokens is a configuration error', function () {
      expect(() => authInterceptor({ tokens: [], exemptMethods: [] })).to.throw(/at least one token/);
    });
  });

  describe('helpers', function () {
    it('compares digests of equal length whatever the token lengths', function () {
      const digests = ['short', 'a-much-longer-token-value'].map((t) => crypto.createHash('sha256').update(t).digest());
      expect(tokenMatches('short', digests)).to.equal(true);
      expect(tokenMatches('a-much-longer-token-value', digests)).to.equal(true);
      expect(tokenMatches('shor', digests)).to.equal(false);
      expect(tokenMatches('', digests)).to.equal(false);
    });

    it('parses Bearer headers strictly', function () {
      expect(bearerToken('Bearer abc')).to.equal('abc');
      expect(bearerToken('BEARER  abc ')).to.equal('abc');
      expect(bearerToken('Bearer')).to.equal(undefined);
      expect(bearerToken('Bearer a b')).to.equal(undefined);
      expect(bearerToken('Token abc')).to.equal(undefined);
    });

    it('expands --auth-exempt words and service wildcards, and rejects unknown words', function () {
      const m = resolveExemptMethods(['health', 'reflection']);
      expect(isExempt('/grpc.health.v1.Health/Watch', m)).to.equal(true);
      expect(isExempt('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', m)).to.equal(true);
      expect(isExempt('/inference.v1.InferenceService/Ping', m)).to.equal(false);
      expect(resolveExemptMethods(['none'])).to.deep.equal([]);
      expect(() => resolveExemptMethods(['everything'])).to.throw(/unknown "everything"/);
    });
  });
});
