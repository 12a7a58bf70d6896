/**
 * `rtinfer local classify|bench`: in-process mode, same flags and report shape as the remote verbs.
 * A separate entry (bin/rtinfer.js dispatches here) so the remote client never loads a model runtime.
 */
import yargs from 'yargs';
import { BACKEND_NAMES } from '../backends/engine';
import { NORMALIZATIONS, Normalize } from '../models/model';
import { runLoad } from '../measure/load-phase';
import { fillLoadReport } from '../measure/load-report';
import { headerText, loadSummaryText, type ServerDescription } from '../measure/load-printer';
import type { ServedModel } from '../models/served-model';
import { constantPacer } from '../measure/pacer';
import { emitReport, environment, EXIT, loadRunExitCode, newReport, toolVersion } from '../measure/report-json';
import { joinJsonDash, jsonToStdout } from '../shared/json-dash';
import { firstUnreadableImage, generateImages, loadImages, parseSize } from '../shared/images';
import { checkNumbers, UsageError, VERDICT_NUMBERS } from '../shared/flag-checks';
import { classifyLocal, loadLocal, localIssuer } from './local';

/** The in-process model, described as the remote header describes a server's (GetServerInfo). */
function describeLocal(m: ServedModel): ServerDescription {
  const d = m.descriptor;
  const e = m.engine.info;
  return {
    model: d.name, modelSource: d.source, inputWidth: d.inputWidth, inputHeight: d.inputHeight, normalize: d.normalize,
    weights: d.weights, weightsSource: d.weightsSource,
    backend: e.backend, library: e.library, version: e.version, executionProvider: e.executionProvider, threads: e.threads || undefined,
  };
}

export async function main(argv: string[], stdout: (l: string) => void = (l) => process.stdout.write(l + '\n'), err: (l: string) => void = (l) => process.stderr.write(l + '\n')): Promise<number> {
  argv = joinJsonDash(argv);
  // `--json -`: stdout carries the JSON alone, the human lines go to stderr.
  const out = jsonToStdout(argv) ? err : stdout;
  const io = { out: stdout, err };
  let code: number = EXIT.OK;
  const started = new Date();
  const modelOpts = {
    backend: { choices: ['auto', ...BACKEND_NAMES], default: 'auto', describe: 'inference engine (auto: the fastest available)' },
    model: { type: 'string', default: 'googlenet', describe: "'googlenet' or a path to a tfjs model.json / .onnx" },
    weights: { type: 'string', describe: 'weights directory (as the server\'s --weights)' },
    normalize: { choices: NORMALIZATIONS, describe: 'pixel normalization the model expects (as the server\'s --normalize)' },
    threads: { type: 'number', describe: 'engine threads (default: the engine\'s own)' },
    json: { type: 'string', describe: 'write the full result as JSON to this file ("-": to stdout, and the human output to stderr)' },
    'top-k': { type: 'number', default: 5, describe: 'classes returned per image' },
  } as const;
  const settingsOf = (a: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(a).filter(([k]) => k !== '_' && k !== '$0' && !k.includes('-') && k.length > 1));
  try {
    await yargs(argv)
      .scriptName('rtinfer local')
      .command('classify <files..>', 'classify images in-process', (y) => y.options(modelOpts).positional('files', { type: 'string', array: true, demandOption: true, describe: 'image files' }), async (a) => {
        checkNumbers(a, { threads: 'count>=1', 'top-k': 'count>=1' }, argv);
        const m = await loadLocal({ backend: a.backend as never, model: a.model, weights: a.weights, normalize: a.normalize as Normalize | undefined, threads: a.threads, log: err });
        const rep = newReport('local-classify', settingsOf(a), environment('in-process'), started);
        const results = [];
        for (const im of loadImages(a.files as string[])) {
          const t0 = process.hrtime.bigint();
          try {
            const r = await classifyLocal(m, im.bytes, a['top-k']);
            const e2e = Number(process.hrtime.bigint() - t0) / 1e6;
            out(`${im.name} — ${m.descriptor.name} on ${m.selection.backend}`);
            r.top.forEach((p, i) => out(`  ${String(i + 1).padStart(4)}  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${String(p.class_index).padStart(5)}  ${p.label}`));
            out(`  end-to-end ${e2e.toFixed(2)} ms; decode ${(Number(r.timing.decodeNanos) / 1e6).toFixed(2)} + preprocess ${(Number(r.timing.preprocessNanos) / 1e6).toFixed(2)} + inference ${(Number(r.timing.inferenceNanos) / 1e6).toFixed(2)} ms`);
            results.push({ image: im.name, status: 'OK', e2e_ms: e2e, predictions: r.top, timing: r.timing });
          } catch (e) {
            err(`${im.name}: INVALID_ARGUMENT: ${(e as Error).message}`);
            results.push({ image: im.name, status: 'INVALID_ARGUMENT', message: (e as Error).message });
            code = EXIT.RUNTIME;
          }
        }
        rep.results = results;
        rep.summary = { images: results.length, ok: results.filter((r) => r.status === 'OK').length };
        emitReport(rep, a.json, io);
        await m.engine.dispose();
      })
      .command('bench', 'in-process load test (closed loop or --rate)', (y) =>
        y.options(modelOpts)
          .option('images', { type: 'array', string: true, describe: 'image files or directories' })
          .option('image-size', { type: 'string', describe: 'generate noise JPEGs of WxH instead (default 224x224 when no --images)' })
          .option('concurrency', { alias: 'C', type: 'number', default: 1, describe: 'closed loop: requests in flight' })
          .option('rate', { type: 'number', describe: 'open loop: requests/s (latency from the intended send time)' })
          .option('duration', { type: 'number', describe: 'seconds to measure (default 10 unless --requests)' })
          .option('requests', { type: 'number', describe: 'requests to measure' })
          .option('warmup', { type: 'number', default: 1, describe: 'seconds of unmeasured warm-up' })
          .option('budget-ms', { type: 'number', describe: 'latency budget for the verdict' })
          .option('fps', { type: 'number', describe: 'images/s the verdict requires (PASS needs at least this throughput)' })
          .option('percentile', { type: 'number', default: 99, describe: 'percentile the budget applies to' }), async (a) => {
        checkNumbers(a, { threads: 'count>=1', 'top-k': 'count>=1', concurrency: 'count>=1', rate: '>0', duration: '>0', requests: 'count>=1', warmup: '>=0', ...VERDICT_NUMBERS, fps: '>0' }, argv);
        const files = a.images && a.images.length > 0 ? loadImages(a.images) : undefined;
        const bad = files && (await firstUnreadableImage(files));
        if (bad) throw new UsageError(`--images: ${bad}`);
        const m = await loadLocal({ backend: a.backend as never, model: a.model, weights: a.weights, normalize: a.normalize as Normalize | undefined, threads: a.threads, log: err });
        const size = parseSize(a['image-size'] ?? '224x224');
        const generated = files === undefined;
        const images = files ?? (await generateImages(...size));
        const slots = a.rate !== undefined ? 64 : a.concurrency;
        const durationS = a.duration ?? (a.requests === undefined ? 10 : undefined);
        out(headerText({
          title: 'local bench',
          server: describeLocal(m),
          images: { ...(generated ? { generated: { width: size[0], height: size[1] } } : {}), images: images.map((i) => ({ name: i.name, bytes: i.bytes.length })) },
          load: { mode: a.rate !== undefined ? 'open' : 'closed', concurrency: slots, rate: a.rate, arrivals: 'constant', durationS, count: a.requests, warmupS: a.warmup },
        }));
        const r = await runLoad({
          mode: a.rate !== undefined ? 'open' : 'closed',
          concurrency: slots,
          pacer: a.rate !== undefined ? () => constantPacer(a.rate!) : undefined,
          durationS,
          requests: a.requests,
          warmupS: a.warmup,
          issue: localIssuer(m, images.map((i) => i.bytes), a['top-k'], slots),
        });
        const rep = newReport('local-bench', settingsOf(a), environment('in-process', { backend: m.selection.backend, reason: m.selection.reason, model: m.descriptor.name }), started);
        fillLoadReport(rep, r, { budgetMs: a['budget-ms'], fps: a.fps, percentile: a.percentile }, {}, { offeredRate: a.rate, inProcess: true });
        out(loadSummaryText(rep, r.latency));
        emitReport(rep, a.json, io);
        await m.engine.dispose();
        code = loadRunExitCode(rep);
      })
      .demandCommand(1, 'give classify or bench')
      .strict()
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? Object.assign(new Error(msg), { usage: true });
      })
      .help()
      .version('version', 'show the version of rtinfer', toolVersion())
      .parseAsync();
    return code;
  } catch (e) {
    const usage = (e as { usage?: boolean }).usage === true || e instanceof UsageError;
    err(`${usage ? 'usage error' : 'error'}: ${(e as Error).message}`);
    return usage ? EXIT.USAGE : EXIT.RUNTIME;
  }
}

export function run(argv: string[]): void {
  main(argv).then((c) => {
    process.exitCode = c;
    setTimeout(() => process.exit(c), 100).unref();
  });
}
