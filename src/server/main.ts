/**
 * `npm start` entry: flags/env → startServer → log the addresses → wait for a signal.
 *
 * Exit codes (irtt's convention): 0 clean shutdown, 1 start-up failure (e.g. an explicitly requested
 * backend that is not installed: the message names what to install), 2 usage error (yargs), 3 a second
 * signal during shutdown (exit at once, in-flight work abandoned).
 */
import { reachableAddresses, startServer, type RunningServer } from './app';
import { createLogger } from './log';
import { parseServerArgs } from './options';
import { configureSharp } from '../models/preprocess';
import { lowerComputeThreads } from './thread-priority';
import { setHeapGrowingPercent } from './heap-growth';

export async function main(argv: string[]): Promise<void> {
  const o = parseServerArgs(argv);
  const log = createLogger(o.logLevel, { format: o.logFormat });
  // Process-wide, so only here: libvips may load the accepted image formats and nothing else.
  configureSharp({ blockUnusedLoaders: true });
  // Process-wide too, and before the model loads, so every isolate starts with it (decision 0029).
  setHeapGrowingPercent(o.heapGrowingPercent);
  let running: RunningServer | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal: sig });
      process.exit(3);
    }
    if (!running) {
      // Still loading: nothing is being served, so there is nothing to drain.
      log.info('signal during start-up: exiting', { signal: sig });
      process.exit(0);
    }
    log.info('signal received: shutting down (send it again to exit at once)', { signal: sig });
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP: re-read the tokens (rotate or revoke without a restart); a bad file keeps the old tokens.
  process.on('SIGHUP', () => {
    if (!running) return;
    try {
      running.reloadTokens();
    } catch (err) {
      log.warn('tokens not reloaded; the previous tokens stay in force', { error: err instanceof Error ? err.message : String(err) });
    }
  });

  try {
    running = await startServer(o);
    // Here, not in startServer: a process's thread priorities belong to its entry point, not to a library
    // call (tests start servers inside the test runner).
    const lowered = lowerComputeThreads(o.computeNice);
    if (lowered) log.info('compute threads run below the event loop', { computeNice: o.computeNice, threads: lowered.lowered() });
    log.info('heap growing factor set', { heapGrowingPercent: o.heapGrowingPercent });
  } catch (err) {
    log.error('server failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  log.info('ready', {
    port: running.port,
    try: reachableAddresses(running.host, running.port),
    startupMs: Math.round(running.startupMs),
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
