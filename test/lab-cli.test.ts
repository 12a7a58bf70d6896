/**
 * The lab's command line and renderings, without building a lab (no root needed): flags, the one-line
 * message and exit 1 for what is missing, the HAProxy config HAProxy itself accepts, and Envoy's config
 * rendered for the lab passing the same static validation as deploy/envoy/envoy.yaml.
 */
import { execFile, execFileSync } from 'node:child_process';
import { expect } from 'chai';
import * as YAML from 'yaml';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { certsIn } from '../src/lab/certs';
import { parseUpArgs } from '../src/lab/cli';
import { renderEnvoyConfig } from '../src/lab/envoy-config';
import { renderHaproxyConfig } from '../src/lab/haproxy-config';
import { missingRequirement, onPath } from '../src/lab/requirements';
import { TUNNEL, PROXY_PORTS } from '../src/lab/topology';
import { readImpairmentFile } from '../src/lab/impair-proxy-cli';
import { validateEnvoyConfig } from './helpers/envoy-validator';
import { sharedFixture } from './helpers/fixtures';
import { edgeFlags, LAB_CLI, labStatus, labUp, mobilenetFlags, requireLab, rtinferInClient, runNode } from './helpers/lab';

describe('lab command line', function () {
  it('up: the lab flags, and everything else for the servers', function () {
    expect(parseUpArgs(['--model', 'm.json', '--rate-mbit', '20', '--delay-ms=5', '--jitter-ms', '1', '--normalize', 'signed', '--edge', 'envoy'])).to.deep.equal({
      edge: 'envoy',
      serverArgs: ['--model', 'm.json', '--normalize', 'signed'],
      rateMbit: 20,
      delayMs: 5,
      jitterMs: 1,
    });
    expect(parseUpArgs([])).to.deep.equal({ edge: 'haproxy', serverArgs: [] });
    for (const bad of [['--rate-mbit', '0'], ['--delay-ms', '-1'], ['--jitter-ms', 'x'], ['--edge', 'nginx'], ['--delay-ms']]) {
      expect(() => parseUpArgs(bad), bad.join(' ')).to.throw();
    }
  });

  it('usage errors exit 2 with the usage; an unknown host for exec too', async function () {
    const badName = await new Promise<number>((resolve) => execFile(process.execPath, [LAB_CLI, 'status'], { env: { ...process.env, RTINFER_LAB: 'Not-A-Name' } }, (err) => resolve(typeof err?.code === 'number' ? err.code : 0)));
    expect(badName, 'RTINFER_LAB=Not-A-Name').to.equal(2);
    for (const args of [[], ['sideways'], ['up', '--rate-mbit', 'fast'], ['exec', 'mars', '--', 'true'], ['exec', 'client']]) {
      const r = await runNode([LAB_CLI, ...args]);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr).to.match(/usage:/);
    }
  });

  it('not root, or a binary missing: one line naming it and how to install it', async function () {
    expect(missingRequirement('haproxy', 1000)).to.match(/^lab: needs root/);
    expect(missingRequirement('haproxy', 0, '/nonexistent')).to.equal("lab: 'ip' not found on PATH (apt-get install iproute2)");
    const onlyIp = fs.mkdtempSync(path.join(os.tmpdir(), 'rti-lab-path-'));
    try {
      for (const b of ['ip', 'tc', 'nft', 'wireguard-go', 'wg', 'openssl']) fs.symlinkSync('/bin/true', path.join(onlyIp, b));
      expect(missingRequirement('haproxy', 0, onlyIp, '/')).to.equal("lab: 'haproxy' not found on PATH (apt-get install haproxy)");
      expect(missingRequirement('envoy', 0, onlyIp, '/')).to.match(/^lab: 'envoy' not found on PATH \(install Envoy/);
      expect(missingRequirement('haproxy', 0, `${onlyIp}:/usr/sbin:/usr/bin:/sbin:/bin`, '/nonexistent/tun')).to.match(/tun is missing/);
    } finally {
      fs.rmSync(onlyIp, { recursive: true, force: true });
    }
    // The real CLI, with nothing on PATH: exit 1, one line.
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [LAB_CLI, 'up'], { env: { PATH: '/nonexistent' } }, (err, _o, stderr) => resolve({ code: typeof err?.code === 'number' ? err.code : err ? -1 : 0, stderr }));
    });
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(process.getuid?.() === 0 ? /'ip' not found on PATH \(apt-get install iproute2\)/ : /needs root/);
  });

  it('run by an ordinary user: exit 1, one line saying it needs root', async function () {
    // As root, drop to nobody with setpriv (util-linux); as an ordinary user, just run it. nobody keeps one
    // capability, to read files (a checkout may sit in a directory only root can enter, as a fresh CI clone
    // under mktemp does); it is still not root, which is all the lab checks.
    const asRoot = process.getuid?.() === 0;
    if (asRoot && !onPath('setpriv')) this.skip();
    const drop = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search'];
    const cmd = asRoot ? [...drop, process.execPath, LAB_CLI, 'up'] : [process.execPath, LAB_CLI, 'up'];
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(cmd[0], cmd.slice(1), (err, _o, stderr) => resolve({ code: typeof err?.code === 'number' ? err.code : err ? -1 : 0, stderr }));
    });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^lab: needs root/);
  });
});

describe('lab edge configs', function () {
  it('HAProxy accepts the rendered config (haproxy -c), direct and through the proxies', function () {
    if (!onPath('haproxy')) {
      if (process.env.CI === 'true') throw new Error('haproxy not installed; CI must have it (.ci/run)');
      console.log('      skipped: haproxy not found on PATH (apt-get install haproxy)');
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rti-lab-cfg-'));
    try {
      // Any PEM certificate+key and EC public key do for a syntax and file check; make throwaway ones.
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=t', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`], { stdio: 'ignore' });
      fs.writeFileSync(`${dir}/edge.pem`, fs.readFileSync(`${dir}/c.pem`, 'utf8') + fs.readFileSync(`${dir}/k.pem`, 'utf8'));
      execFileSync('openssl', ['pkey', '-in', `${dir}/k.pem`, '-pubout', '-out', `${dir}/jwt.pem`]);
      for (const viaProxy of [false, true]) {
        const cfg = renderHaproxyConfig({ dir, edgePem: `${dir}/edge.pem`, jwtPublicKey: `${dir}/jwt.pem`, viaProxy });
        fs.writeFileSync(`${dir}/h.cfg`, cfg);
        execFileSync('haproxy', ['-c', '-q', '-f', `${dir}/h.cfg`], { stdio: 'pipe' });
        expect(cfg).to.include(viaProxy ? `127.0.0.1:${PROXY_PORTS['server-a']}` : `${TUNNEL['server-a'].ipv4}:8000`);
        // The check always goes straight into the tunnel, to the readiness endpoint.
        expect(cfg).to.include(`check check-proto h1 addr ${TUNNEL['server-a'].ipv4} port 9464`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deploy/envoy/envoy.yaml rendered for the lab passes the static Envoy validation, pointing at the lab', function () {
    for (const viaProxy of [false, true]) {
      const text = renderEnvoyConfig(certsIn('/lab/certs'), viaProxy);
      const cfg = YAML.parse(text) as { static_resources: { clusters: Array<{ type: string; load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string } } } }> }> } }> } };
      const r = validateEnvoyConfig(cfg);
      expect(r.errors, r.errors.join('\n')).to.deep.equal([]);
      const eps = cfg.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints.map((e) => e.endpoint.address.socket_address.address);
      expect(eps).to.deep.equal(viaProxy ? ['127.0.0.1', '127.0.0.1'] : [TUNNEL['server-a'].ipv4, TUNNEL['server-b'].ipv4]);
      expect(text).to.include('/lab/certs/jwks.json').and.include('/lab/certs/server.crt');
    }
  });

  it('--edge envoy: the same lab with the production edge classifies through it (needs an envoy binary)', async function () {
    this.timeout(240_000);
    requireLab(this, 'envoy');
    const image = sharedFixture(this, 'images/chelsea.jpg');
    try {
      await labUp([...mobilenetFlags(this), '--edge', 'envoy']);
      const st = await labStatus();
      expect(st.edge.kind).to.equal('envoy');
      const r = await rtinferInClient(['classify', ...edgeFlags(st), '--json', '-', image]);
      const res = (JSON.parse(r.stdout) as { results: Array<{ status: string; predictions?: Array<{ label: string }> }> }).results[0];
      expect(res.status).to.equal('OK');
      expect(res.predictions![0].label).to.match(/cat/i);
    } finally {
      await runNode([LAB_CLI, 'down']);
    }
  });
});

describe('impairment proxy --config file (what the lab re-reads on SIGHUP)', function () {
  it('reads delay and jitter; names the file and the problem otherwise', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rti-lab-imp-'));
    const f = path.join(dir, 'impairment.json');
    try {
      fs.writeFileSync(f, '{"delayMs":5,"jitterMs":1}');
      expect(readImpairmentFile(f)).to.deep.equal({ delayMs: 5, jitterMs: 1 });
      for (const [text, why] of [
        ['{', /--config .*impairment\.json: /],
        ['[]', /not a JSON object/],
        ['{"delay":5}', /unknown keys delay/],
        ['{"delayMs":-1}', /delayMs must be a number ≥ 0/],
        ['{"jitterDistribution":"pareto"}', /'normal' or 'uniform'/],
      ] as const) {
        fs.writeFileSync(f, text);
        expect(() => readImpairmentFile(f), text).to.throw(why);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
