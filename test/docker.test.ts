import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { serverCredentials } from '../src/server/tls';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { startTinyServer } from './helpers/tiny-grpc-server';

const ROOT = path.resolve(__dirname, '..', '..');
const HEALTHCHECK = path.join(ROOT, 'scripts', 'healthcheck.js');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile → stages of instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(file: string): Stage[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (cur === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment inside a continued RUN
    if (line.endsWith('\\')) cur += line.slice(0, -1) + ' ';
    else {
      logical.push(cur + line);
      cur = '';
    }
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) throw new Error(`${file}: cannot parse "${l}"`);
    const op = m[1].toUpperCase();
    const args = m[2].trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: f![1], name: f![2], instructions: [] });
    } else if (stages.length > 0) stages[stages.length - 1].instructions.push({ op, args });
  }
  return stages;
}

function all(stage: Stage, op: string): string[] {
  return stage.instructions.filter((i) => i.op === op).map((i) => i.args);
}

function checkRuntimeStage(file: string, stage: Stage): void {
  const users = all(stage, 'USER');
  expect(users, `${file} ${stage.name ?? 'final'}: USER`).to.have.length.greaterThan(0);
  expect(users[users.length - 1]).to.not.match(/^(root|0)(:|$)/);
  const exposed = all(stage, 'EXPOSE').join(' ').split(/\s+/);
  expect(exposed, `${file}: EXPOSE 8000`).to.include('8000');
  const hc = all(stage, 'HEALTHCHECK');
  expect(hc, `${file}: one HEALTHCHECK`).to.have.length(1);
  expect(hc[0]).to.match(/CMD \["node", "scripts\/healthcheck\.js"\]/);
  expect(all(stage, 'COPY').join('\n'), `${file}: ships the health check script`).to.match(/scripts\/healthcheck\.js/);
  expect(all(stage, 'CMD').join(), `${file}: starts the compiled server`).to.match(/dist\/src\/server\/main\.js/);
  expect(all(stage, 'COPY').join('\n'), `${file}: reflection descriptor set`).to.match(/inference\.binpb/);
}

/** Every COPY from the build context must exist and be re-included by .dockerignore's "!" lines. */
function checkContextCopies(file: string, stages: Stage[]): void {
  const allow = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
  for (const s of stages) {
    for (const c of all(s, 'COPY')) {
      if (/--from=/.test(c)) continue;
      const parts = c.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(fs.existsSync(path.join(ROOT, src)), `${file}: COPY ${src} does not exist`).to.equal(true);
        const ok = allow.some((a) => a === src || (a.endsWith('/**') && (src === a.slice(0, -3) || src.startsWith(a.slice(0, -2)))));
        expect(ok, `${file}: COPY ${src} is excluded by .dockerignore`).to.equal(true);
      }
    }
  }
}

describe('Dockerfiles and .dockerignore (static checks; no Docker engine here)', function () {
  it('Dockerfile.cpu: node 24 LTS slim, npm ci, tfjs-node installed at build time, non-root, EXPOSE 8000, gRPC HEALTHCHECK', function () {
    const stages = parseDockerfile('Dockerfile.cpu');
    const text = fs.readFileSync(path.join(ROOT, 'Dockerfile.cpu'), 'utf8');
    expect(text).to.match(/ARG NODE_IMAGE=node:24-[\w-]*slim/);
    const build = stages[0];
    const runs = all(build, 'RUN').join('\n');
    expect(runs).to.match(/npm ci\b/);
    expect(runs).to.match(/npm rebuild @tensorflow\/tfjs-node\b/);
    expect(runs).to.match(/require\('@tensorflow\/tfjs-node'\)/); // the build fails when the native backend does not load
    expect(runs).to.match(/npm prune --omit=dev/);
    const final = stages[stages.length - 1];
    checkRuntimeStage('Dockerfile.cpu', final);
    expect(all(final, 'ENV').join(' ')).to.match(/INFER_BACKEND=tensorflow\b/);
    expect(all(final, 'RUN').join('\n'), 'no compilers in the runtime stage').to.not.match(/g\+\+|build-essential/);
    checkContextCopies('Dockerfile.cpu', stages);
  });

  it('Dockerfile.gpu: default target on CUDA 11.8 + cuDNN 8 on Ubuntu 22.04 (tfjs-node-gpu 4.22 / TF 2.9.1), ORT target on CUDA 12 + cuDNN 9 on Ubuntu 24.04, Node 24', function () {
    const stages = parseDockerfile('Dockerfile.gpu');
    const byName = new Map(stages.map((s) => [s.name, s]));
    const last = stages[stages.length - 1];
    expect(last.name).to.equal('tensorflow-gpu');
    // Resolve the base chain of the default target down to an image.
    let base = last.from;
    while (byName.has(base)) base = byName.get(base)!.from;
    expect(base).to.equal('nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04');
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile.gpu'), 'utf8')).to.match(/^ARG NODE_VERSION=24\.\d+\.\d+$/m);
    const tfjsDeps = all(byName.get('tfjs-gpu-deps')!, 'RUN').join('\n');
    expect(tfjsDeps).to.match(/npm ci\b/);
    expect(tfjsDeps).to.match(/@tensorflow\/tfjs-node-gpu@4\.22\.0/);
    expect(tfjsDeps).to.match(/rm -rf node_modules\/@tensorflow\/tfjs-node\b/);
    checkRuntimeStage('Dockerfile.gpu', last);
    expect(all(last, 'ENV').join(' ')).to.match(/INFER_BACKEND=tensorflow-gpu/);

    const ort = byName.get('onnxruntime-cuda')!;
    let ortBase = ort.from;
    while (byName.has(ortBase)) ortBase = byName.get(ortBase)!.from;
    expect(ortBase).to.match(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$/);
    expect(all(byName.get('ort-gpu-deps')!, 'RUN').join('\n')).to.match(/ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    checkRuntimeStage('Dockerfile.gpu', ort);
    // Node comes from the official tarball, verified against its published checksum.
    expect(all(byName.get('cuda11-node')!, 'RUN').join('\n')).to.match(/sha256sum -c/);
    checkContextCopies('Dockerfile.gpu', stages);
  });

  it('the install facts the GPU file relies on still hold for the installed onnxruntime-node', function () {
    const meta = require(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'script', 'install-metadata.js')) as {
      requirements: Record<string, string[]>;
    };
    expect(meta.requirements['linux/x64']).to.deep.equal(['cuda12']);
    // And CPU installs never run the script that would fetch it: package.json denies it (npm with install-script
    // approvals), and Dockerfile.cpu installs with --ignore-scripts and rebuilds only tfjs-node and sharp.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts?.['onnxruntime-node']).to.equal(false);
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile.cpu'), 'utf8')).to.not.match(/npm rebuild[^\n]*onnxruntime-node/);
  });

  it('.dockerignore keeps dev keys, tokens and build output out of the build context', function () {
    const lines = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(lines[lines.findIndex((l) => !l.startsWith('#') && l !== '')]).to.equal('**');
    expect(lines).to.include.members(['deploy/certs', '**/*.key']);
    expect(lines.filter((l) => l.startsWith('!')).some((l) => /dist|node_modules|deploy/.test(l))).to.equal(false);
  });

  describe('scripts/healthcheck.js (the HEALTHCHECK command, run for real against a grpc-js server)', function () {
    function runHealthcheck(env: Record<string, string>): Promise<{ code: number; out: string }> {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [HEALTHCHECK], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: ROOT });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => resolve({ code: code ?? -1, out }));
      });
    }
    let certs: DevCerts;
    before(() => {
      certs = makeDevCerts();
    });
    after(() => certs.remove());

    it('exits 0 when inference.v1.InferenceService is SERVING, 1 when nothing listens', async function () {
      const s = await startTinyServer(grpc.ServerCredentials.createInsecure());
      let port: number;
      try {
        port = s.port;
        const ok = await runHealthcheck({ HEALTHCHECK_TARGET: `127.0.0.1:${s.port}` });
        expect(ok.code, ok.out).to.equal(0);
        expect(ok.out).to.match(/SERVING/);
        const unknown = await runHealthcheck({ HEALTHCHECK_TARGET: `127.0.0.1:${s.port}`, HEALTHCHECK_SERVICE: 'no.such.Service' });
        expect(unknown.code, unknown.out).to.equal(1);
      } finally {
        await s.close();
      }
      const down = await runHealthcheck({ HEALTHCHECK_TARGET: `127.0.0.1:${port}`, HEALTHCHECK_TIMEOUT_MS: '1000' });
      expect(down.code).to.equal(1);
      expect(down.out).to.match(/UNAVAILABLE|DEADLINE_EXCEEDED/);
    });

    it('speaks TLS when the server does (INFER_TLS_CERT + HEALTHCHECK_CA), and mTLS with a client cert', async function () {
      const tls = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca }));
      try {
        const target = `127.0.0.1:${tls.port}`;
        const noCert = await runHealthcheck({ HEALTHCHECK_TARGET: target, INFER_TLS_CERT: certs.serverCert, HEALTHCHECK_CA: certs.ca, HEALTHCHECK_TIMEOUT_MS: '1500' });
        expect(noCert.code, 'mTLS server must refuse a probe without client cert').to.equal(1);
        const ok = await runHealthcheck({
          HEALTHCHECK_TARGET: target, INFER_TLS_CERT: certs.serverCert, HEALTHCHECK_CA: certs.ca,
          HEALTHCHECK_CERT: certs.clientCert, HEALTHCHECK_KEY: certs.clientKey,
        });
        expect(ok.code, ok.out).to.equal(0);
        const noCa = await runHealthcheck({ HEALTHCHECK_TARGET: target, INFER_TLS_CERT: certs.serverCert });
        expect(noCa.code).to.equal(1);
        expect(noCa.out).to.match(/set HEALTHCHECK_CA/);
      } finally {
        await tls.close();
      }
    });
  });
});
