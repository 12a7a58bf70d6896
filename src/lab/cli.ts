/**
 * `npm run lab -- up|down|status|exec` (node dist/src/lab/cli.js). Exit codes: 0 done, 1 failed (or a
 * requirement is missing: one line names it and how to install it), 2 usage error.
 */
import { spawnSync } from 'node:child_process';
import { down, status, statusText, up } from './lab';
import { missingRequirement, type EdgeKind } from './requirements';
import type { LabOptions } from './state';
import { HOSTS, labName, nsOf, type HostName } from './topology';

export const USAGE = `usage:
  npm run lab -- up [--rate-mbit N] [--delay-ms D] [--jitter-ms J] [--edge haproxy|envoy] [server flags…]
      builds the lab, or changes a running one in place (a flag left out is off); every other flag goes to
      both servers, e.g. --model ../shared/models/mobilenet_v1_0.25_224/model.json --normalize signed
  npm run lab -- down                    removes every namespace, link, process and file of the lab
  npm run lab -- status [--json]
  npm run lab -- exec HOST -- COMMAND…    runs COMMAND inside a host: ${HOSTS.join(', ')}`;

export class UsageError extends Error {}

const LAB_FLAGS = ['--rate-mbit', '--delay-ms', '--jitter-ms', '--edge'];

/** `up`'s arguments: the lab's own flags, and everything else for the servers. */
export function parseUpArgs(args: string[]): LabOptions {
  const o: LabOptions = { edge: 'haproxy', serverArgs: [] };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].includes('=') ? [args[i].slice(0, args[i].indexOf('=')), args[i].slice(args[i].indexOf('=') + 1)] : [args[i], undefined];
    if (!LAB_FLAGS.includes(flag)) {
      o.serverArgs.push(args[i]);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (flag === '--edge') {
      if (value !== 'haproxy' && value !== 'envoy') throw new UsageError(`--edge is haproxy or envoy (got '${value}')`);
      o.edge = value as EdgeKind;
      continue;
    }
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || (flag === '--rate-mbit' && n === 0)) throw new UsageError(`${flag} must be a number ${flag === '--rate-mbit' ? '> 0' : '≥ 0'} (got '${value}')`);
    if (flag === '--rate-mbit') o.rateMbit = n;
    else if (flag === '--delay-ms') o.delayMs = n;
    else o.jitterMs = n;
  }
  return o;
}

function parseExec(args: string[]): { host: HostName; command: string[] } {
  const host = args[0] as HostName;
  if (!HOSTS.includes(host)) throw new UsageError(`exec: the host is one of ${HOSTS.join(', ')} (got '${args[0] ?? ''}')`);
  const rest = args[1] === '--' ? args.slice(2) : args.slice(1);
  if (rest.length === 0) throw new UsageError('exec: a command to run is missing (exec HOST -- COMMAND…)');
  return { host, command: rest };
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  const say = (l: string): void => void process.stderr.write(`lab: ${l}\n`);
  try {
    try {
      labName();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (verb === 'up') {
      const o = parseUpArgs(args);
      const missing = missingRequirement(o.edge);
      if (missing) return fail(missing);
      await up(o, say);
      process.stdout.write(`${statusText(await status())}\n`);
      return 0;
    }
    if (verb === 'down') {
      if (args.length > 0) throw new UsageError(`down takes no arguments (got ${args.join(' ')})`);
      const missing = missingRequirement('haproxy');
      if (missing?.includes('root')) return fail(missing);
      const r = await down(say);
      if (r.leftovers.length > 0) return fail(`lab: could not remove ${r.leftovers.join(', ')}`);
      return 0;
    }
    if (verb === 'status') {
      const json = args.includes('--json');
      const unknown = args.filter((a) => a !== '--json');
      if (unknown.length > 0) throw new UsageError(`status: unknown ${unknown.join(' ')}`);
      const st = await status();
      process.stdout.write(json ? `${JSON.stringify(st ?? null, null, 2)}\n` : `${statusText(st)}\n`);
      return st ? 0 : 1;
    }
    if (verb === 'exec') {
      const { host, command } = parseExec(args);
      if (process.getuid?.() !== 0) return fail('lab: needs root (network namespaces): run it as root, e.g. sudo npm run lab -- exec …');
      const r = spawnSync('ip', ['netns', 'exec', nsOf(host), ...command], { stdio: 'inherit' });
      if (r.error) return fail(`lab: exec: ${r.error.message}`);
      return r.status ?? 1;
    }
    throw new UsageError(verb ? `unknown command '${verb}'` : 'a command is missing');
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`lab: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    return fail(`lab: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function fail(line: string): number {
  process.stderr.write(`${line}\n`);
  return 1;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
