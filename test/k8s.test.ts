/**
 * deploy/k8s: every overlay renders with `kubectl kustomize` (Debian's kubectl), every object validates
 * against the Kubernetes OpenAPI schema (kubernetes-models), and what the manifests promise holds as
 * behaviour: probes, security contexts, drain timing, the NetworkPolicy, the edge's upstream, and the load
 * Job's agents (their rates add up to the total).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { planAgent } from '../src/client/agent';
import { importEsm } from '../src/measure/esm';
import { RATE_UNITS_PER_REQ } from '../src/measure/agent-share';
import { validateEnvoyConfig } from './helpers/envoy-validator';
import { requireTool, toolRuns } from './helpers/tools';

const PROJECT = path.resolve(__dirname, '..', '..');
const K8S = path.join(PROJECT, 'deploy', 'k8s');

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> } & Record<string, any>;

function render(dir: string): Obj[] {
  const r = spawnSync('kubectl', ['kustomize', path.join(K8S, dir)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

function one(objs: Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind} ${name}`).to.have.length(1);
  return found[0];
}

/** kubernetes-models' class for an object's apiVersion and kind (its validate() checks the OpenAPI schema). */
async function validate(o: Obj): Promise<void> {
  const mod = await importEsm<Record<string, new (d: unknown) => { validate(): void }>>(`kubernetes-models/${o.apiVersion}/${o.kind}`);
  const Model = mod[o.kind];
  expect(Model, `${o.apiVersion} ${o.kind} has a schema`).to.be.a('function');
  new Model(o).validate();
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const loadLocal = require(path.join(PROJECT, 'scripts', 'load-local.js')) as {
  loadJob(): { job: Obj; env: Record<string, string>; container: any };
  agentCommand(container: any, env: Record<string, string>, index: number): { argv: string[]; env: Record<string, string> };
};
const envoyConfig = require(path.join(PROJECT, 'scripts', 'k8s-envoy-config.js')) as { render(): string; HEADLESS_SERVICE: string; TARGET: string };

describe('deploy/k8s', function () {
  this.timeout(120_000);
  const rendered: Record<string, Obj[]> = {};

  before(function () {
    requireTool(this, toolRuns('kubectl', ['version', '--client']), 'kubectl not installed (Debian package kubectl)');
    for (const dir of ['overlays/cpu', 'overlays/gpu', 'load']) rendered[dir] = render(dir);
  });

  it('renders every overlay and the load Job, and every object validates against the Kubernetes schema', async () => {
    for (const [dir, objs] of Object.entries(rendered)) {
      expect(objs.length, dir).to.be.greaterThan(1);
      for (const o of objs) {
        try {
          await validate(o);
        } catch (e) {
          throw new Error(`${dir}: ${o.kind} ${o.metadata.name}: ${(e as Error).message}`);
        }
      }
    }
  });

  it('the schema check is real: a wrong type is refused', async () => {
    const d = structuredClone(one(rendered['overlays/cpu'], 'Deployment', 'inference'));
    d.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
    let err: Error | undefined;
    try {
      await validate(d);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/containerPort/);
  });

  for (const overlay of ['overlays/cpu', 'overlays/gpu']) {
    describe(overlay, () => {
      const objs = (): Obj[] => rendered[overlay];
      const server = (): any => one(objs(), 'Deployment', 'inference').spec.template.spec;

      it('servers: gRPC health probes on grpc.health.v1, startup/readiness for the model service, liveness for the process', () => {
        const c = server().containers[0];
        expect(c.readinessProbe.grpc).to.deep.equal({ port: 8000, service: 'inference.v1.InferenceService' });
        expect(c.startupProbe.grpc).to.deep.equal({ port: 8000, service: 'inference.v1.InferenceService' });
        expect(c.livenessProbe.grpc).to.deep.equal({ port: 8000, service: '' });
        expect(c.ports.map((p: any) => p.containerPort)).to.include.members([8000, 9464]);
      });

      it('servers: non-root, read-only root file system, no privilege escalation, no capabilities, only the cache and /tmp writable', () => {
        const spec = server();
        const c = spec.containers[0];
        expect(spec.securityContext.runAsNonRoot).to.equal(true);
        expect(spec.securityContext.runAsUser).to.be.greaterThan(0);
        expect(c.securityContext).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
        expect(c.securityContext.capabilities.drop).to.deep.equal(['ALL']);
        expect(c.volumeMounts.map((m: any) => m.mountPath).sort()).to.deep.equal(['/app/.cache', '/tmp']);
        expect(c.resources.requests.cpu).to.be.a('string');
        expect(c.resources.limits.memory).to.be.a('string');
      });

      it('servers: the grace period covers the preStop wait plus the server\'s own drain (--grace-ms)', () => {
        const spec = server();
        const c = spec.containers[0];
        const preStopS = Number(c.lifecycle.preStop.exec.command[1]);
        const graceMs = Number(c.env.find((e: any) => e.name === 'INFER_GRACE_MS').value);
        // The server's own drain delay comes on top (its default, 10 s, unless the env sets it).
        const drainDelayMs = Number(c.env.find((e: any) => e.name === 'INFER_DRAIN_DELAY_MS')?.value ?? 10_000);
        expect(preStopS).to.be.greaterThan(5); // longer than Envoy's 5 s DNS refresh and health-check interval
        expect(spec.terminationGracePeriodSeconds).to.be.greaterThan(preStopS + (drainDelayMs + graceMs) / 1000);
      });

      it('headless Service, PDB and HPA all point at the server pods', () => {
        const pods = one(objs(), 'Deployment', 'inference').spec.template.metadata.labels;
        const svc = one(objs(), 'Service', 'inference-headless');
        expect(svc.spec.clusterIP).to.equal('None');
        expect(matches(svc.spec.selector, pods)).to.equal(true);
        expect(matches(one(objs(), 'PodDisruptionBudget', 'inference').spec.selector.matchLabels, pods)).to.equal(true);
        const hpa = one(objs(), 'HorizontalPodAutoscaler', 'inference');
        expect(hpa.spec.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'inference' });
        expect(hpa.spec.metrics[0].resource.name).to.equal('cpu');
        expect(hpa.spec.minReplicas).to.be.at.least(2);
      });

      it('NetworkPolicy: servers take gRPC only from the edge pods', () => {
        const pods = one(objs(), 'Deployment', 'inference').spec.template.metadata.labels;
        const edgePods = one(objs(), 'Deployment', 'inference-edge').spec.template.metadata.labels;
        const np = one(objs(), 'NetworkPolicy', 'inference-from-edge-only');
        expect(matches(np.spec.podSelector.matchLabels, pods)).to.equal(true);
        expect(np.spec.policyTypes).to.deep.equal(['Ingress']);
        const grpcRules = np.spec.ingress.filter((r: any) => r.ports.some((p: any) => p.port === 8000));
        expect(grpcRules).to.have.length(1);
        expect(grpcRules[0].from).to.have.length(1);
        expect(grpcRules[0].from[0].namespaceSelector).to.equal(undefined);
        expect(matches(grpcRules[0].from[0].podSelector.matchLabels, edgePods)).to.equal(true);
        expect(matches(grpcRules[0].from[0].podSelector.matchLabels, pods)).to.equal(false);
      });

      it('edge: a LoadBalancer Service, and Envoy\'s config from deploy/envoy/envoy.yaml with STRICT_DNS on the headless Service', () => {
        const edge = one(objs(), 'Deployment', 'inference-edge');
        const svc = one(objs(), 'Service', 'inference-edge');
        expect(svc.spec.type).to.equal('LoadBalancer');
        expect(matches(svc.spec.selector, edge.spec.template.metadata.labels)).to.equal(true);
        const cmName = edge.spec.template.spec.volumes.find((v: any) => v.name === 'config').configMap.name;
        const cm = objs().find((o) => o.kind === 'ConfigMap' && o.metadata.name === cmName)!;
        expect(cm, 'the edge mounts the generated ConfigMap (hash-suffixed name rewritten)').to.not.equal(undefined);
        expect(cm.data!['envoy.yaml']).to.equal(envoyConfig.render());
        const cluster = YAML.parse(cm.data!['envoy.yaml']).static_resources.clusters.find((c: any) => c.name === 'inference');
        expect(cluster.type).to.equal('STRICT_DNS');
        const addrs = cluster.load_assignment.endpoints.flatMap((e: any) => e.lb_endpoints.map((l: any) => l.endpoint.address.socket_address));
        expect(addrs).to.deep.equal([{ address: 'inference-headless', port_value: 8000 }]);
        expect(cluster.health_checks[0].grpc_health_check.service_name).to.equal('inference.v1.InferenceService');
        const c = edge.spec.template.spec.containers[0];
        expect(c.securityContext).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
        // The generated config is still a valid Envoy bootstrap, and every file it reads is mounted.
        const v = validateEnvoyConfig(YAML.parse(cm.data!['envoy.yaml']));
        expect(v.errors, v.errors.join('\n')).to.deep.equal([]);
        const volumes = new Map<string, any>(edge.spec.template.spec.volumes.map((vol: any) => [vol.name, vol]));
        const files = new Set<string>();
        for (const m of c.volumeMounts) {
          const vol = volumes.get(m.name);
          if (m.subPath) files.add(m.mountPath);
          for (const item of vol?.secret?.items ?? []) files.add(`${m.mountPath}/${item.path}`);
          if (vol?.secret && !vol.secret.items) files.add(`${m.mountPath}/*`);
        }
        expect(files.has('/etc/envoy/envoy.yaml')).to.equal(true);
        expect(c.args.join(' ')).to.include('-c /etc/envoy/envoy.yaml');
        expect(v.filenames.map((f) => f.file).sort()).to.deep.equal(['/etc/envoy/certs/server.crt', '/etc/envoy/certs/server.key', '/etc/envoy/jwt/jwks.json']);
        for (const f of v.filenames) expect(files.has(f.file) || files.has(`${path.posix.dirname(f.file)}/*`), `${f.file} is mounted`).to.equal(true);
      });
    });
  }

  it('the committed edge config is what the generator makes from deploy/envoy/envoy.yaml', () => {
    expect(fs.readFileSync(envoyConfig.TARGET, 'utf8')).to.equal(envoyConfig.render());
  });

  it('cpu overlay: the CPU image; gpu overlay: the GPU image with an nvidia.com/gpu limit on GPU nodes', () => {
    const cpu = one(rendered['overlays/cpu'], 'Deployment', 'inference').spec.template.spec;
    const gpu = one(rendered['overlays/gpu'], 'Deployment', 'inference').spec.template.spec;
    expect(cpu.containers[0].image).to.match(/:cpu$/);
    expect(cpu.containers[0].resources.limits['nvidia.com/gpu']).to.equal(undefined);
    expect(gpu.containers[0].image).to.match(/:gpu$/);
    expect(gpu.containers[0].resources.limits['nvidia.com/gpu']).to.equal('1');
    expect(gpu.containers[0].env.find((e: any) => e.name === 'INFER_BACKEND').value).to.equal('tensorflow-gpu');
    expect(gpu.tolerations.some((t: any) => t.key === 'nvidia.com/gpu')).to.equal(true);
  });

  describe('load Job', () => {
    const job = (): Obj => one(rendered.load, 'Job', 'rtinfer-load');

    it('is an Indexed Job: completions = parallelism = RTINFER_AGENTS, index from the downward API, no retries', () => {
      const spec = job().spec;
      const c = spec.template.spec.containers[0];
      const agents = Number(c.env.find((e: any) => e.name === 'RTINFER_AGENTS').value);
      expect(spec.completionMode).to.equal('Indexed');
      expect(spec.completions).to.equal(agents);
      expect(spec.parallelism).to.equal(agents);
      expect(spec.backoffLimit).to.equal(0);
      expect(c.env.find((e: any) => e.name === 'JOB_COMPLETION_INDEX').valueFrom.fieldRef.fieldPath).to.equal("metadata.annotations['batch.kubernetes.io/job-completion-index']");
      expect(c.securityContext).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(spec.template.spec.securityContext.runAsNonRoot).to.equal(true);
      const cm = c.envFrom[0].configMapRef.name;
      expect(rendered.load.some((o) => o.kind === 'ConfigMap' && o.metadata.name === cm)).to.equal(true);
    });

    it('its agents target the edge Service, start together, write distinct files, and their rates add up to the total', () => {
      const { container, env } = loadLocal.loadJob();
      const agents = job().spec.completions as number;
      let units = 0;
      const files = new Set<string>();
      const starts = new Set<string>();
      for (let i = 0; i < agents; i++) {
        const { argv, env: vars } = loadLocal.agentCommand(container, env, i);
        expect(argv.join(' '), 'every $(VAR) resolves').not.to.match(/\$\(/);
        const flag = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
        expect(flag('target')).to.match(/^inference-edge:/);
        starts.add(flag('start-at')!);
        files.add(flag('json')!);
        const plan = planAgent({ rate: Number(flag('rate')), startAt: flag('start-at') }, vars);
        expect(plan.index).to.equal(i);
        expect(plan.count).to.equal(agents);
        units += Math.round(plan.rate! * RATE_UNITS_PER_REQ);
      }
      expect(units).to.equal(Math.round(Number(env.RTINFER_RATE) * RATE_UNITS_PER_REQ));
      expect(starts.size).to.equal(1);
      expect(files.size).to.equal(agents);
    });
  });
});
