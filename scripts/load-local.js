#!/usr/bin/env node
// A local rehearsal of the distributed load Job (deploy/k8s/load): starts N agent processes with the Job's
// own command, arguments and environment (load.env, RTINFER_AGENTS, JOB_COMPLETION_INDEX, RTINFER_START_AT
// a few seconds ahead), expanding $(VAR) the way Kubernetes does, then merges their runs with
// `rtinfer report --merge`. With --compare it then runs one process at the same total rate, for comparison.
//
//   npm run load:local -- --agents 4 --target 127.0.0.1:8000 --rate 80 --duration 20 [--compare]
//
// Options (each overrides the load.env value of the same meaning):
//   --agents N (4)  --target HOST:PORT  --rate TOTAL  --duration S  --warmup S  --rpc classify|stream|ping
//   --connections N  --ca FILE  --servername NAME  --lead-s S (5: start-at this far ahead)
//   --out DIR (out/load-local)  --compare (also one process at the total rate: OUT/single.json)
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const YAML = require('yaml');

const ROOT = path.resolve(__dirname, '..');
const LOAD_DIR = path.join(ROOT, 'deploy/k8s/load');

/** The Job and its ConfigMap's variables, as committed. */
function loadJob() {
  const job = YAML.parse(fs.readFileSync(path.join(LOAD_DIR, 'job.yaml'), 'utf8'));
  const env = {};
  for (const line of fs.readFileSync(path.join(LOAD_DIR, 'load.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return { job, env, container: job.spec.template.spec.containers[0] };
}

/** Kubernetes' $(VAR) expansion of command and args: $$ escapes, an unknown variable stays as written. */
function expand(s, vars) {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => (m === '$$' ? '$' : Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : m));
}

/**
 * What agent `index` runs: the container's env (literal values; JOB_COMPLETION_INDEX = index, as its
 * downward-API field gives), then `configEnv` (the ConfigMap), then the command and args expanded.
 */
function agentCommand(container, configEnv, index) {
  const vars = { ...configEnv };
  for (const e of container.env ?? []) {
    if (e.value !== undefined) vars[e.name] = expand(String(e.value), vars);
    else if (e.name === 'JOB_COMPLETION_INDEX') vars[e.name] = String(index);
  }
  const argv = [...container.command, ...(container.args ?? [])].map((a) => expand(a, vars));
  return { argv, env: vars };
}

function parseArgs(argv) {
  const o = { agents: 4, leadS: 5, out: path.join(ROOT, 'out/load-local'), compare: false };
  const names = { '--agents': 'agents', '--target': 'target', '--rate': 'rate', '--duration': 'duration', '--warmup': 'warmup', '--rpc': 'rpc', '--connections': 'connections', '--ca': 'ca', '--servername': 'servername', '--lead-s': 'leadS', '--out': 'out' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    if (flag === '--compare') {
      o.compare = true;
      continue;
    }
    const key = names[flag];
    if (!key) throw new Error(`unknown option ${argv[i]} (see the comment at the top of scripts/load-local.js)`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    o[key] = ['agents', 'leadS'].includes(key) ? Number(v) : v;
  }
  if (!(Number.isInteger(o.agents) && o.agents >= 1)) throw new Error(`--agents must be an integer ≥ 1 (got ${o.agents})`);
  if (!(o.leadS >= 0)) throw new Error(`--lead-s must be ≥ 0 (got ${o.leadS})`);
  return o;
}

function run(argv, env, logFile) {
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, 'w');
    const child = spawn(argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', out, out] });
    child.on('exit', (code, signal) => {
      fs.closeSync(out);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { container, env: fileEnv } = loadJob();
  const resultsDir = path.resolve(o.out, 'agents');
  fs.rmSync(resultsDir, { recursive: true, force: true });
  fs.mkdirSync(resultsDir, { recursive: true });
  const startAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + o.leadS * 1000).toISOString();
  const config = { ...fileEnv, RTINFER_START_AT: startAt, RTINFER_RESULTS: resultsDir, RTINFER_CA: o.ca ?? '', RTINFER_SERVERNAME: o.servername ?? '' };
  const overrides = { target: 'RTINFER_TARGET', rate: 'RTINFER_RATE', duration: 'RTINFER_DURATION', warmup: 'RTINFER_WARMUP', rpc: 'RTINFER_RPC', connections: 'RTINFER_CONNECTIONS' };
  for (const [k, name] of Object.entries(overrides)) if (o[k] !== undefined) config[name] = String(o[k]);
  // The Job's own count (completions = parallelism = RTINFER_AGENTS) becomes --agents.
  const c = { ...container, env: (container.env ?? []).map((e) => (e.name === 'RTINFER_AGENTS' ? { ...e, value: String(o.agents) } : e)) };
  process.stdout.write(`load:local: ${o.agents} agents → ${config.RTINFER_TARGET}, ${config.RTINFER_RATE}/s in total, ${config.RTINFER_DURATION} s, start at ${startAt}\n`);
  const codes = await Promise.all(
    Array.from({ length: o.agents }, (_, i) => {
      const { argv, env } = agentCommand(c, config, i);
      if (i === 0) process.stdout.write(`agent command: ${argv.join(' ')}\n`);
      // The secret-held token comes from this shell's RTINFER_TOKEN, as the Job's secretKeyRef gives it.
      return run(argv, { ...process.env, ...env }, path.join(resultsDir, `agent-${i}.log`));
    }),
  );
  codes.forEach((code, i) => process.stdout.write(`agent ${i}: exit ${code} (log ${path.relative(ROOT, path.join(resultsDir, `agent-${i}.log`))})\n`));
  const files = Array.from({ length: o.agents }, (_, i) => path.join(resultsDir, `agent-${i}.json`)).filter((f) => fs.existsSync(f));
  if (files.length !== o.agents) {
    process.stderr.write(`load:local: ${o.agents - files.length} agents wrote no result; not merging\n`);
    process.exit(1);
  }
  const cli = path.join(ROOT, 'dist/src/client/cli.js');
  const merged = path.resolve(o.out, 'merged.json');
  const mcode = await new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'report', '--merge', ...files, '--out', path.resolve(o.out, 'report'), '--json', merged], { cwd: ROOT, stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
  if (mcode !== 0) process.exit(mcode);
  if (o.compare) {
    const single = path.resolve(o.out, 'single.json');
    const argv = [process.execPath, cli, 'bench', `--target=${config.RTINFER_TARGET}`, `--rpc=${config.RTINFER_RPC}`, `--rate=${config.RTINFER_RATE}`, `--duration=${config.RTINFER_DURATION}`, `--warmup=${config.RTINFER_WARMUP}`, `--connections=${config.RTINFER_CONNECTIONS}`, `--json=${single}`];
    const code = await run(argv, { ...process.env, RTINFER_CA: config.RTINFER_CA, RTINFER_SERVERNAME: config.RTINFER_SERVERNAME }, path.resolve(o.out, 'single.log'));
    if (code !== 0) process.exit(code);
    const m = JSON.parse(fs.readFileSync(merged, 'utf8')).summary;
    const s = JSON.parse(fs.readFileSync(single, 'utf8')).summary;
    const row = (name, x) => `${name.padEnd(22)} ${x.throughput_rps.toFixed(1).padStart(8)} ${x.latency.percentiles_ms.p50.toFixed(3).padStart(8)} ${x.latency.percentiles_ms.p99.toFixed(3).padStart(8)}`;
    process.stdout.write(`${'run'.padEnd(22)}    req/s   p50 ms   p99 ms\n${row(`${o.agents} agents (merged)`, m)}\n${row('1 process', s)}\n`);
    process.stdout.write(`throughput ratio merged / single: ${(m.throughput_rps / s.throughput_rps).toFixed(3)}\n`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`load:local: ${e.message}\n`);
    process.exit(2);
  });
}
module.exports = { loadJob, agentCommand, expand };
