/**
 * Server logs as an operator reads them: readable text on a terminal, JSON lines for anything that collects
 * them, a SERVING line whose first words say where, on what, which model and whose weights, and no line about
 * an engine that does not run.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { realWeightsHint, WORKSPACE_MOBILENET } from '../src/models/catalog';
import { reachableAddresses, servingSummary, shortBackendWhy } from '../src/server/app';
import { createLogger, resolveLogFormat } from '../src/server/log';
import { parseServerArgs } from '../src/server/options';
import { suiteTempDir } from './helpers/temp-dir';

const MAIN = path.resolve(__dirname, '..', 'src', 'server', 'main.js');

function capture(format: 'text' | 'json'): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger('info', { format, sink: (l) => lines.push(l) }) };
}

describe('server logs (--log-format)', () => {
  const tmp = suiteTempDir('server-log-');

  it('the synthetic-weights hint names the workspace MobileNet only where it exists, and always the ONNX and --weights routes', () => {
    const project = path.join(tmp.path, 'project');
    fs.mkdirSync(project);
    const bare = realWeightsHint(project);
    expect(bare).to.not.include('../shared');
    expect(bare).to.match(/--model FILE\.onnx\|URL.*NHWC.*--normalize caffe.*--weights DIR\|URL/);
    const model = path.resolve(project, WORKSPACE_MOBILENET);
    fs.mkdirSync(path.dirname(model), { recursive: true });
    fs.writeFileSync(model, '{}');
    expect(realWeightsHint(project)).to.match(/^--model \.\.\/shared\/models\/mobilenet_v1_0\.25_224\/model\.json --normalize signed; or --model FILE\.onnx/);
  });

  it('auto is text on a terminal and JSON anywhere else; an explicit format wins', () => {
    expect(resolveLogFormat('auto', true)).to.equal('text');
    expect(resolveLogFormat('auto', false)).to.equal('json');
    expect(resolveLogFormat('json', true)).to.equal('json');
    expect(resolveLogFormat('text', false)).to.equal('text');
    expect(parseServerArgs([]).logFormat).to.equal('auto');
    expect(parseServerArgs(['--log-format', 'text']).logFormat).to.equal('text');
  });

  it('json: one parseable object a line with time, level, msg and the fields', () => {
    const { lines, log } = capture('json');
    log.child({ component: 'x' }).warn('queue full', { depth: 64, id: 5n });
    log.debug('below the level');
    expect(lines).to.have.length(1);
    const rec = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(rec).to.include({ level: 'warn', msg: 'queue full', component: 'x', depth: 64, id: '5' });
    expect(Date.parse(String(rec.time))).to.be.a('number').and.not.NaN;
  });

  it('text: time, level and message first, then key=value (quoted when needed); long fields on their own line', () => {
    const { lines, log } = capture('text');
    log.info('listening', { address: '[::]:8000', auth: false, note: 'two words' });
    log.info('SERVING', { reason: 'x'.repeat(200) });
    expect(lines[0]).to.match(/^\d\d:\d\d:\d\d\.\d{3} INFO  listening {2}address=\[::\]:8000 auth=false note="two words"\n$/);
    expect(lines[0]).to.not.include('{');
    expect(lines[1]).to.match(/^\d\d:\d\d:\d\d\.\d{3} INFO  SERVING\n {4}reason=x{200}\n$/);
  });

  it('the SERVING summary leads with address, backend and why, model and weights provenance, batching', () => {
    const selection = {
      reason: 'auto: first available in preference order (onnxruntime-cuda > tensorflow-gpu > onnxruntime); onnxruntime-node 1.30.0 (native CPU)',
      log: ['auto: skip onnxruntime-cuda: needs a visible NVIDIA GPU', 'auto: skip tensorflow-gpu: needs @tensorflow/tfjs-node-gpu', 'auto: chose onnxruntime: …'],
    };
    const s = servingSummary({
      addresses: reachableAddresses('::', 8000),
      backend: 'onnxruntime',
      selection,
      descriptor: { name: 'googlenet', weights: 'synthetic', weightsSource: 'seed:2014' },
      batching: { maxBatch: 4, maxQueueDelayUs: 0 },
    });
    expect(s).to.equal(
      'SERVING on 127.0.0.1:8000, [::1]:8000 — onnxruntime (auto: best available; onnxruntime-cuda, tensorflow-gpu not usable here) — ' +
        'googlenet, SYNTHETIC weights (seed:2014) — batches ≤ 4, no wait',
    );
    expect(shortBackendWhy({ reason: 'requested explicitly; …', log: [] })).to.equal('as requested');
    expect(reachableAddresses('0.0.0.0', 1)).to.deep.equal(['127.0.0.1:1']);
    expect(reachableAddresses('::1', 1)).to.deep.equal(['[::1]:1']);
  });

  it('a real start with --log-format text: readable lines, SERVING first words, no tfjs-cpu line under onnxruntime', async function () {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--log-format', 'text'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (/ INFO {2}ready/.test(err)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`server exited ${code} before ready:\n${err}`)));
      });
    } finally {
      child.kill('SIGTERM');
      await exit;
    }
    const lines = err.split('\n').filter((l) => l !== '');
    expect(lines.filter((l) => l.startsWith('{')), 'no JSON line').to.deep.equal([]);
    const serving = lines.find((l) => / INFO {2}SERVING /.test(l));
    expect(serving, err).to.match(/SERVING on 127\.0\.0\.1:\d+ — (\S+) \(auto: [^)]*\) — googlenet, SYNTHETIC weights \(seed:2014\) — /);
    const backend = /SERVING on \S+ — (\S+)/.exec(serving!)![1];
    if (backend.startsWith('onnxruntime')) expect(err).to.not.match(/tfjs-cpu/);
    const synthetic = lines.findIndex((l) => l.includes('SYNTHETIC WEIGHTS'));
    expect(lines[synthetic + 1]).to.match(/realWeights=".*--model FILE\.onnx.*--normalize caffe.*--weights DIR/);
  });
});
