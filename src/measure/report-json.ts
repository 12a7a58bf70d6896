/**
 * The `--json` document in Node: the tool's version, the machine's environment, writing and reading files.
 * Its shape and the figures in it are report-doc.ts's (shared with the browser page).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emptyReport, FORMAT_VERSION, toJson, TOOL_NAME, type Environment, type RunReport, type Verb } from './report-doc';

export { attachLoad, emptyReport, FORMAT_VERSION, histogramSection, loadSummary, toJson, TOOL_NAME } from './report-doc';
export type { AgentInfo, Environment, HdrField, LoadSummary, MergedAgent, MergeInfo, RunReport, Verb } from './report-doc';

let cachedVersion: string | undefined;

/** This package's version, found by walking up from this file (works from src/ and dist/src/). */
export function toolVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { version?: string };
      cachedVersion = pkg.version ?? '0.0.0';
      return cachedVersion;
    }
    dir = path.dirname(dir);
  }
  return (cachedVersion = '0.0.0');
}

export function environment(target: string, server?: Record<string, unknown>): Environment {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    os_release: os.release(),
    arch: process.arch,
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    total_memory_bytes: os.totalmem(),
    hostname: os.hostname(),
    target,
    ...(server ? { server } : {}),
  };
}

export function newReport(verb: Verb, settings: Record<string, unknown>, env: Environment, started: Date): RunReport {
  return emptyReport(verb, settings, env, started, toolVersion());
}

export function writeReport(file: string, rep: RunReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, toJson(rep));
}

/** rtinfer's exit codes, the same for the remote verbs and `rtinfer local` (docs/CLIENT.md). */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2, INTERRUPTED: 3, VERDICT_FAIL: 4 } as const;

/** Where a CLI's lines go: `out` is stdout, `err` stderr. */
export interface ReportIo {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Writes `--json FILE`: with "-", the JSON alone on stdout (the human lines went to stderr); otherwise the
 * file, and "wrote FILE" on stderr so it never mixes into output piped elsewhere. No file: nothing.
 */
export function emitReport(rep: RunReport, file: string | undefined, io: ReportIo): void {
  if (file === '-') io.out(toJson(rep).trimEnd());
  else if (file) {
    writeReport(file, rep);
    io.err(`wrote ${file}`);
  }
}

/**
 * Exit code of a finished load run. A run with no successful call (all failed, or none finished) measured
 * nothing, so it is a runtime error (1) whatever the verdict says; otherwise a FAIL verdict gives 4.
 */
export function loadRunExitCode(rep: RunReport): number {
  const s = rep.summary as { ok?: number; errors?: number };
  if ((s.ok ?? 0) === 0) return EXIT.RUNTIME;
  return rep.verdict?.status === 'FAIL' ? EXIT.VERDICT_FAIL : EXIT.OK;
}

export function readReport(file: string): RunReport {
  let rep: RunReport;
  try {
    rep = JSON.parse(fs.readFileSync(file, 'utf8')) as RunReport;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (rep === null || typeof rep !== 'object' || rep.tool?.name !== TOOL_NAME || typeof rep.format_version !== 'number') {
    throw new Error(`${file} is not an ${TOOL_NAME} --json run (no tool.name/format_version)`);
  }
  if (rep.format_version > FORMAT_VERSION) {
    throw new Error(`${file} has format_version ${rep.format_version}; this ${TOOL_NAME} reads up to ${FORMAT_VERSION}`);
  }
  return rep;
}
