import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as YAML from 'yaml';
import { DEFAULT_SERVER_OPTIONS } from '../src/server/options';
import { makeDevCerts } from './helpers/dev-certs';

const ROOT = path.resolve(__dirname, '..', '..');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking untyped YAML

function compose(): Obj {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8'), { merge: true }) as Obj;
}
function envoy(): Obj {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'envoy', 'envoy.yaml'), 'utf8')) as Obj;
}

describe('deploy/docker-compose.yml (static checks; no Docker engine here)', function () {
  const c = compose();

  it('runs Envoy plus two CPU servers by default and a GPU server only in the "gpu" profile', function () {
    const services = c.services as Record<string, Obj>;
    const always = Object.keys(services).filter((n) => !services[n].profiles);
    expect(always.sort()).to.deep.equal(['envoy', 'inference-cpu-1', 'inference-cpu-2']);
    expect(services['inference-gpu'].profiles).to.deep.equal(['gpu']);
  });

  it('reserves NVIDIA GPUs for the GPU server and builds it from Dockerfile.gpu', function () {
    const gpu = c.services['inference-gpu'];
    const devices = gpu.deploy.resources.reservations.devices as Obj[];
    expect(devices).to.have.length(1);
    expect(devices[0].driver).to.equal('nvidia');
    expect(devices[0].capabilities).to.include('gpu');
    expect(devices[0].count === 'all' || Number(devices[0].count) >= 1).to.equal(true);
    expect(gpu.build.dockerfile).to.equal('Dockerfile.gpu');
    expect(gpu.environment.INFER_BACKEND).to.equal('tensorflow-gpu');
  });

  it('builds each server from a Dockerfile that exists, and only Envoy publishes a port', function () {
    for (const [name, s] of Object.entries(c.services as Record<string, Obj>)) {
      if (name === 'envoy') {
        expect(s.ports).to.deep.equal(['8443:8443']);
        expect(s.image).to.match(/^envoyproxy\/envoy:v\d+\.\d+/);
        continue;
      }
      expect(s.ports, `${name} must stay unpublished (behind Envoy)`).to.equal(undefined);
      expect(fs.existsSync(path.resolve(ROOT, 'deploy', s.build.context, s.build.dockerfile)), name).to.equal(true);
    }
  });

  it("Envoy's endpoints are exactly the compose servers on the port they listen on", function () {
    const cluster = (envoy().static_resources.clusters as Obj[]).find((x) => x.name === 'inference')!;
    const endpoints = (cluster.load_assignment.endpoints as Obj[]).flatMap((e) => e.lb_endpoints as Obj[]).map((e) => e.endpoint.address.socket_address);
    const servers = Object.keys(c.services).filter((n) => n.startsWith('inference-'));
    expect(endpoints.map((e: Obj) => e.address).sort()).to.deep.equal(servers.sort());
    for (const e of endpoints) {
      const env = c.services[e.address].environment;
      expect(Number(env.INFER_PORT ?? DEFAULT_SERVER_OPTIONS.port)).to.equal(e.port_value);
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
