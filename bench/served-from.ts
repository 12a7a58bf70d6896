/** What our server process says it serves (from its JSON log), and a guard on h2load results. */
import { NORMALIZATIONS, type Normalize } from '../src/models/model';
import type { ServerProcess } from '../test/helpers/server-process';
import type { H2loadResult } from './h2load';

export interface Served {
  onnxPath: string;
  normalize: Normalize;
  inputSize: number;
  metricsPort: number;
}

/** The ONNX file the server loaded, its input, normalisation and metrics port (started with --metrics-port 0). */
export function servedFrom(srv: ServerProcess): Served {
  let onnxPath: string | undefined;
  let serving: Record<string, unknown> | undefined;
  for (const rec of srv.lines) {
    const m = /^onnx: (?:reused cached export|exported) (\S+\.onnx) /.exec(String(rec.msg ?? ''));
    if (m) onnxPath = m[1];
    if (typeof rec.input === 'string' && typeof rec.normalize === 'string') serving = rec;
  }
  if (!onnxPath || !serving) throw new Error('our server did not log the ONNX file it loaded or its serving summary');
  const [h, w, c] = String(serving.input).split('x').map(Number);
  if (h !== w || c !== 3) throw new Error(`the anchor takes a square RGB input; the server has ${String(serving.input)}`);
  const normalize = serving.normalize as Normalize;
  if (!NORMALIZATIONS.includes(normalize)) throw new Error(`unknown normalisation ${normalize}`);
  if (typeof serving.metricsPort !== 'number') throw new Error('our server logged no metrics port');
  return { onnxPath, normalize, inputSize: h, metricsPort: serving.metricsPort };
}

/** Throws unless every request of the run succeeded (HTTP and, where counted, gRPC), but for the ones a timed run's end cuts. */
export function checked(side: string, r: H2loadResult, inFlight: number): H2loadResult {
  const bad = r.failed + r.non2xx + (r.grpc_not_ok ?? 0);
  // Only the requests in flight when a timed run ends may be cut (H2loadResult.grpc_cut), warm-up's end included.
  const cutTooMany = (r.grpc_cut ?? 0) > 2 * inFlight;
  if (bad > 0 || cutTooMany || r.done === 0) {
    throw new Error(`${side}: ${r.done} done, ${r.failed} failed, ${r.non2xx} non-2xx, ${r.grpc_not_ok ?? 0} gRPC errors, ${r.grpc_cut ?? 0} calls cut (${r.command})`);
  }
  return r;
}
