import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as YAML from 'yaml';
import { availability, type BackendProbes } from '../src/backends/select';
import type { BackendName } from '../src/backends/engine';
import type { ServerOptions } from '../src/server/options';
import { makeDevCerts } from './helpers/dev-certs';

const ROOT = path.resolve(__dirname, '..', '..');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking untyped YAML

function compose(): Obj {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8'), { merge: true }) as Obj;
}
function envoy(): Obj {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'envoy', 'envoy.yaml'), 'utf8')) as Obj;
}

/**
 * The options a server container starts with: the server's own parser (parseServerArgs, the INFER_* variables)
 * run on the service's compose environment alone, in a child process because a usage error exits.
 */
const parsed = new Map<string, ServerOptions>();
function serverOptions(env: Record<string, string | number>): ServerOptions {
  const key = JSON.stringify(env);
  const known = parsed.get(key);
  if (known) return known;
  const options = path.join(ROOT, 'dist', 'src', 'server', 'options.js');
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(options)}).parseServerArgs([])))`], {
    env: { PATH: process.env.PATH ?? '', ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) },
    encoding: 'utf8',
  });
  expect(r.status, `the server refuses this environment: ${r.stderr.split('\n').slice(-3).join(' ')}`).to.equal(0);
  const o = JSON.parse(r.stdout) as ServerOptions;
  parsed.set(key, o);
  return o;
}

/** A host with every engine installed and no GPU: what a backend still needs there is the GPU. */
const NO_GPU: BackendProbes = {
  onnxRuntime: { installed: true, cuda: true, reason: 'installed' },
  tfjsNodeGpu: { installed: true, reason: 'installed' },
  tfjsNode: { installed: true, reason: 'installed' },
  wasm: { installed: true, reason: 'installed' },
  cpu: { installed: true, reason: 'installed' },
  gpu: { visible: false, reason: 'no NVIDIA GPU' },
};
const needsGpu = (b: BackendName): boolean => !availability(b, NO_GPU).ok;

describe('deploy/docker-compose.yml (static checks; no Docker engine here)', function () {
  const c = compose();

  const servers = (): Array<[string, Obj]> => Object.entries(c.services as Record<string, Obj>).filter(([n]) => n !== 'envoy');
  const reservesGpu = (s: Obj): boolean => ((s.deploy?.resources?.reservations?.devices ?? []) as Obj[]).some((d) => d.driver === 'nvidia' && (d.capabilities as string[]).includes('gpu'));

  it('each server container starts: the server accepts its environment, on a backend it can run', function () {
    this.timeout(30_000);
    for (const [name, s] of servers()) {
      const o = serverOptions(s.environment as Record<string, string>);
      expect(o.backend, `${name} names its backend (auto would depend on the host)`).to.not.equal('auto');
      // With a GPU reserved a GPU backend runs; without one, only a backend that needs no GPU can.
      expect(needsGpu(o.backend as BackendName), `${name}: backend ${o.backend} vs GPU reservation`).to.equal(reservesGpu(s));
    }
  });

  it('every container runs with least privilege: read-only root, no capabilities, no privilege escalation, memory and pids limits', function () {
    for (const [name, s] of Object.entries(c.services as Record<string, Obj>)) {
      expect(s.read_only, `${name}: read_only`).to.equal(true);
      expect(s.cap_drop, `${name}: cap_drop`).to.deep.equal(['ALL']);
      expect(s.security_opt, `${name}: security_opt`).to.include('no-new-privileges:true');
      expect(s.mem_limit, `${name}: mem_limit`).to.be.a('string');
      expect(s.pids_limit, `${name}: pids_limit`).to.be.a('number');
    }
    // The servers write only their ONNX export cache and /tmp, both tmpfs; metrics are published on the
    // compose network deliberately (the server's default is loopback).
    for (const [name, s] of servers()) {
      expect(s.tmpfs, name).to.include.members(['/tmp', '/app/.cache']);
      expect((s.environment as Record<string, string>).INFER_METRICS_HOST, name).to.equal('::');
    }
  });

  it('a plain `docker compose up` needs no GPU; the GPU server is opt-in by profile', function () {
    const plain = servers().filter(([, s]) => !s.profiles);
    expect(plain.length, 'servers started by default').to.be.at.least(1);
    for (const [name, s] of plain) expect(reservesGpu(s), `${name} reserves a GPU by default`).to.equal(false);
    for (const [name, s] of servers().filter(([, x]) => reservesGpu(x))) expect(s.profiles, `${name} reserves a GPU`).to.be.an('array').that.is.not.empty;
  });

  it('builds each server from a Dockerfile that exists, and only Envoy publishes a port', function () {
    for (const [name, s] of Object.entries(c.services as Record<string, Obj>)) {
      if (name === 'envoy') {
        expect(s.ports).to.deep.equal(['8443:8443']);
        expect(s.image).to.match(/^envoyproxy\/envoy:v\d+\.\d+/);
        continue;
      }
      expect(s.ports, `${name} must stay unpublished (behind Envoy)`).to.equal(undefined);
      const dockerfile = path.resolve(ROOT, 'deploy', s.build.context, s.build.dockerfile);
      expect(fs.existsSync(dockerfile), name).to.equal(true);
      // `docker build --target X` fails unless a stage is named X.
      if (s.build.target) expect(fs.readFileSync(dockerfile, 'utf8'), `${name}: build target`).to.match(new RegExp(`^FROM \\S+ AS ${s.build.target}\\s*$`, 'm'));
    }
  });

  it("Envoy's endpoints are exactly the compose servers on the port they listen on", function () {
    this.timeout(30_000);
    const cluster = (envoy().static_resources.clusters as Obj[]).find((x) => x.name === 'inference')!;
    const endpoints = (cluster.load_assignment.endpoints as Obj[]).flatMap((e) => e.lb_endpoints as Obj[]).map((e) => e.endpoint.address.socket_address);
    const servers = Object.keys(c.services).filter((n) => n.startsWith('inference-'));
    expect(endpoints.map((e: Obj) => e.address).sort()).to.deep.equal(servers.sort());
    for (const e of endpoints) {
      // The port the server really listens on, as its own parser reads the container's environment.
      expect(serverOptions(c.services[e.address].environment as Record<string, string>).port, e.address).to.equal(e.port_value);
      expect(c.services[e.address].expose).to.include(String(e.port_value));
    }
  });

  it('mounts exactly the files scripts/dev-certs.sh produces (run for real into a temp dir)', function () {
    const certs = makeDevCerts();
    try {
      const made = new Set(fs.readdirSync(certs.dir));
      for (const v of c.services.envoy.volumes as string[]) {
        const src = v.split(':')[0];
        if (!src.startsWith('./certs/')) continue;
        expect(made.has(src.slice('./certs/'.length)), `${src} is not made by dev-certs.sh`).to.equal(true);
      }
      // The unrelated CA's key is thrown away, and the dev CA key never leaves the host.
      expect(made.has('other-ca.key')).to.equal(false);
      expect((c.services.envoy.volumes as string[]).some((v) => /ca\.key|jwt-signing\.key/.test(v))).to.equal(false);
    } finally {
      certs.remove();
    }
  });
});
