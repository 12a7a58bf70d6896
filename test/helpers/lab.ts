/**
 * Driving the lab from tests: its CLI (`node dist/src/lab/cli.js`, what `npm run lab` runs), `status --json`,
 * and rtinfer run inside the client namespace against the edge. Every call is a real process.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { missingRequirement, type EdgeKind } from '../../src/lab/requirements';
import type { LabStatus } from '../../src/lab/lab';
import { sharedFixture, MOBILENET_JSON } from './fixtures';

/**
 * Tests build a lab of their own, named after this process (RTINFER_LAB, inherited by every lab command
 * they run), so they never touch a lab someone else has up on the same machine, nor it theirs.
 */
process.env.RTINFER_LAB = `rtl${process.pid % 100000}`;

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const LAB_CLI = path.join(ROOT, 'dist', 'src', 'lab', 'cli.js');
const RTINFER = path.join(ROOT, 'bin', 'rtinfer.js');

/**
 * Skips the calling suite (printing why) when the lab cannot run here: not root, or a binary missing.
 * Under CI (CI=true) that is a failure: CI installs the packages (.ci/run) and runs as root.
 */
export function requireLab(ctx: Mocha.Context, edge: EdgeKind = 'haproxy'): void {
  const missing = missingRequirement(edge);
  if (!missing) return;
  if (process.env.CI === 'true' && edge === 'haproxy') throw new Error(`${missing}; CI must provide it (.ci/run)`);
  console.log(`      skipped: ${missing}`);
  ctx.skip();
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function runNode(args: string[], timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function lab(args: string[], timeoutMs = 240_000): Promise<Ran> {
  return runNode([LAB_CLI, ...args], timeoutMs);
}

/** `lab up`, failing the hook with the CLI's own words when it does not come up. */
export async function labUp(args: string[]): Promise<void> {
  const r = await lab(['up', ...args]);
  if (r.code !== 0) throw new Error(`lab up ${args.join(' ')} → exit ${r.code}\n${r.stderr}\n${r.stdout}`);
}

export async function labStatus(): Promise<LabStatus> {
  const r = await lab(['status', '--json']);
  if (r.code !== 0) throw new Error(`lab status → exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as LabStatus;
}

/** The flags that make rtinfer talk to the edge: TLS with the lab's CA, and a token (null: none). */
export function edgeFlags(st: LabStatus, family: 'ipv4' | 'ipv6' = 'ipv4', token: string | null = st.token): string[] {
  const target = family === 'ipv4' ? st.edge.target_ipv4 : st.edge.target_ipv6;
  return ['--target', target, '--ca', st.edge.ca, '--servername', st.edge.servername, ...(token === null ? [] : ['--token', token])];
}

/** rtinfer inside the client namespace (the only way the client reaches the edge). */
export function rtinferInClient(args: string[], timeoutMs = 120_000): Promise<Ran> {
  return lab(['exec', 'client', '--', process.execPath, RTINFER, ...args], timeoutMs);
}

/** Server flags for the real MobileNet from ../shared (skips, or fails under CI, without it). */
export function mobilenetFlags(ctx: Mocha.Context): string[] {
  return ['--model', sharedFixture(ctx, MOBILENET_JSON), '--normalize', 'signed'];
}

/** The lab a suite shares: its status once up, and the server flags it was brought up with. */
export interface SharedLab {
  st: LabStatus;
  serverFlags: string[];
}

/**
 * One lab for the calling suite, with the real MobileNet on both servers: up before its tests (skipping,
 * or failing under CI, when the lab cannot run here), down after them.
 */
export function sharedLab(): SharedLab {
  const l = { st: undefined as unknown as LabStatus, serverFlags: [] as string[] };
  before(async function () {
    requireLab(this);
    l.serverFlags = mobilenetFlags(this);
    await labUp(l.serverFlags);
    l.st = await labStatus();
  });
  after(async function () {
    if (process.getuid?.() === 0) await lab(['down']);
  });
  return l;
}
