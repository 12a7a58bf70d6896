/**
 * `--json -`: the run's JSON alone on stdout (so it pipes into jq) and every human line on stderr, as
 * `curl -o -` and `tar -f -` use "-" for standard output.
 */

/** yargs reads a lone "-" as a positional, not as the value of --json: hand it over as `--json=-`. */
export function joinJsonDash(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json' && argv[i + 1] === '-') {
      out.push('--json=-');
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

/** True when the JSON goes to stdout; call on joinJsonDash's output. */
export function jsonToStdout(argv: readonly string[]): boolean {
  return argv.includes('--json=-');
}
