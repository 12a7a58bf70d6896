import { expect } from 'chai';
import { bindAddress } from '../src/server/app';
import { checkServerId, DEFAULT_SERVER_OPTIONS, hostServerId, parseServerArgs } from '../src/server/options';

/** Runs fn with some INFER_* variables set, restoring the environment afterwards. */
function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('server options (flags and INFER_* environment variables)', () => {
  it('defaults: dual-stack [::]:8000, backend auto, GoogLeNet, 8 MiB messages, the hardening limits, metrics on loopback', () => {
    const inferVars = Object.keys(process.env).filter((k) => k.startsWith('INFER_'));
    const saved = inferVars.map((k) => [k, process.env[k]] as const);
    for (const k of inferVars) delete process.env[k]; // defaults, not whatever this shell exports
    let o: ReturnType<typeof parseServerArgs>;
    try {
      o = parseServerArgs([]);
    } finally {
      for (const [k, v] of saved) process.env[k] = v;
    }
    expect(o).to.include({ host: '::', port: 8000, backend: 'auto', model: 'googlenet', maxMessageBytes: 8 * 1024 * 1024 });
    expect(o).to.include({
      metricsHost: '127.0.0.1',
      maxPingResponseBytes: 1024 * 1024,
      maxPendingBytes: 64 * 1024 * 1024,
      maxConcurrentStreams: 100,
      maxConnectionIdleMs: 300_000,
      maxConnectionAgeMs: 3_600_000,
      maxConnectionAgeGraceMs: 600_000,
      drainDelayMs: 10_000,
      maxInputPixels: 50_000_000,
      decodeTimeoutS: 3,
      computeNice: 5,
      heapGrowingPercent: 300,
    });
    expect(o.maxQueuePerConnection, 'derived: half of --max-queue').to.equal(undefined);
    expect(o.maxBatch).to.equal(DEFAULT_SERVER_OPTIONS.maxBatch);
    expect(bindAddress(o.host, o.port)).to.equal('[::]:8000');
    expect(bindAddress('127.0.0.1', 0)).to.equal('127.0.0.1:0');
  });

  it('reads INFER_* variables, and a flag wins over the environment', () => {
    const o = withEnv({ INFER_BACKEND: 'wasm', INFER_PORT: '9001', INFER_MAX_BATCH: '2', INFER_TOKENS: 'not-a-flag' }, () =>
      parseServerArgs(['--port', '9002', '--max-queue-delay-us', '500', '--auth-exempt', 'health', 'ping']),
    );
    expect(o).to.include({ backend: 'wasm', port: 9002, maxBatch: 2, maxQueueDelayUs: 500 });
    expect(o.authExempt).to.deep.equal(['health', 'ping']);
  });

  it('--server-id names the replica; the default is the host name made safe; a bad name is refused with the rule', () => {
    expect(parseServerArgs(['--server-id', 'server-a']).serverId).to.equal('server-a');
    expect(parseServerArgs([]).serverId).to.equal(undefined); // resolved to the host name at start-up
    expect(hostServerId('edge box/1')).to.equal('edge-box-1');
    expect(hostServerId('')).to.equal('server');
    expect(hostServerId('h'.repeat(200))).to.have.length(64);
    expect(() => checkServerId('a b')).to.throw(/--server-id must be 1–64 characters/);
    expect(() => checkServerId('x'.repeat(65))).to.throw(/--server-id/);
    expect(() => checkServerId('')).to.throw(/--server-id/);
    expect(checkServerId('pod-7.zone:a_b')).to.equal('pod-7.zone:a_b');
  });
});
