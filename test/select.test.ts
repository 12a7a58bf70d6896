import { expect } from 'chai';
import { BACKEND_NAMES, type BackendName } from '../src/backends/engine';
import { detectGpu } from '../src/backends/probe';
import { BackendUnavailableError, selectBackend, type BackendProbes } from '../src/backends/select';
import type { ModelFormat } from '../src/models/model';

interface World {
  ort: boolean;
  ortCuda: boolean;
  tfNode: boolean;
  tfNodeGpu: boolean;
  wasm: boolean;
  gpu: boolean;
}

function probes(w: World): BackendProbes {
  const pkg = (installed: boolean, name: string) => ({ installed, version: installed ? '1.0.0' : undefined, reason: installed ? `${name} here` : `${name} not installed` });
  return {
    tfjsNode: pkg(w.tfNode, '@tensorflow/tfjs-node'),
    tfjsNodeGpu: pkg(w.tfNodeGpu, '@tensorflow/tfjs-node-gpu'),
    wasm: pkg(w.wasm, '@tensorflow/tfjs-backend-wasm'),
    cpu: pkg(true, '@tensorflow/tfjs'),
    onnxRuntime: { installed: w.ort, version: w.ort ? '1.30.0' : undefined, cuda: w.ort && w.ortCuda, reason: w.ort ? 'ort loaded' : 'onnxruntime-node not installed' },
    gpu: { visible: w.gpu, reason: w.gpu ? '/dev/nvidia0' : 'no /dev/nvidia*' },
  };
}

/** Every combination of the six probe booleans. */
function allWorlds(): World[] {
  const out: World[] = [];
  for (let bits = 0; bits < 64; bits++) {
    out.push({
      ort: !!(bits & 1),
      ortCuda: !!(bits & 2),
      tfNode: !!(bits & 4),
      tfNodeGpu: !!(bits & 8),
      wasm: !!(bits & 16),
      gpu: !!(bits & 32),
    });
  }
  return out;
}

/** The specification, written independently of select.ts: what auto must pick. */
function expectedAuto(w: World, format: ModelFormat): BackendName | undefined {
  const ortOk = format === 'layers' || format === 'onnx';
  const tfjsOk = format !== 'onnx';
  const nativeTfOk = tfjsOk;
  if (w.gpu && w.ort && w.ortCuda && ortOk) return 'onnxruntime-cuda';
  if (w.gpu && w.tfNodeGpu && nativeTfOk) return 'tensorflow-gpu';
  if (w.ort && ortOk) return 'onnxruntime';
  if (w.tfNode && nativeTfOk) return 'tensorflow';
  if (format === 'saved-model') return undefined;
  if (w.wasm && tfjsOk) return 'wasm';
  if (tfjsOk) return 'cpu';
  return undefined;
}

const FORMATS: ModelFormat[] = ['layers', 'graph', 'onnx', 'saved-model'];

describe('backend selection (pure decision over probes)', () => {
  it('auto picks the specified engine for all 64 probe combinations × 4 model formats', () => {
    let checked = 0;
    for (const w of allWorlds()) {
      for (const format of FORMATS) {
        const want = expectedAuto(w, format);
        const ctx = `${JSON.stringify(w)} format=${format}`;
        if (want === undefined) {
          expect(() => selectBackend({ request: 'auto', format, probes: probes(w) }), ctx).to.throw(BackendUnavailableError);
        } else {
          const s = selectBackend({ request: 'auto', format, probes: probes(w) });
          expect(s.backend, ctx).to.equal(want);
          // One log line per engine considered, ending with the choice.
          const idx = BACKEND_NAMES.indexOf(want);
          expect(s.log, ctx).to.have.length(idx + 1);
          expect(s.log[idx], ctx).to.match(new RegExp(`^auto: chose ${want}:`));
          for (const line of s.log.slice(0, idx)) expect(line, ctx).to.match(/^auto: skip /);
        }
        checked++;
      }
    }
    expect(checked).to.equal(256);
  });

  it('auto on this kind of machine (ORT CPU bundled, no GPU, no tfjs-node) picks onnxruntime and says why', () => {
    const s = selectBackend({ request: 'auto', format: 'layers', probes: probes({ ort: true, ortCuda: false, tfNode: false, tfNodeGpu: false, wasm: true, gpu: false }) });
    expect(s.backend).to.equal('onnxruntime');
    expect(s.log[0]).to.match(/skip onnxruntime-cuda: needs a visible NVIDIA GPU/);
    expect(s.log[1]).to.match(/skip tensorflow-gpu: needs @tensorflow\/tfjs-node-gpu/);
    expect(s.reason).to.match(/onnxruntime-node 1\.30\.0/);
  });

  it('with a GPU, ORT-CUDA is preferred over tfjs-node-gpu, and tfjs-node-gpu over CPU engines', () => {
    const all = { ort: true, ortCuda: true, tfNode: true, tfNodeGpu: true, wasm: true, gpu: true };
    expect(selectBackend({ request: 'auto', format: 'layers', probes: probes(all) }).backend).to.equal('onnxruntime-cuda');
    expect(selectBackend({ request: 'auto', format: 'layers', probes: probes({ ...all, ortCuda: false }) }).backend).to.equal('tensorflow-gpu');
    // A graph model cannot be exported to ONNX: auto falls through to tfjs-node-gpu and logs why.
    const g = selectBackend({ request: 'auto', format: 'graph', probes: probes(all) });
    expect(g.backend).to.equal('tensorflow-gpu');
    expect(g.log[0]).to.match(/skip onnxruntime-cuda: available but cannot run a graph model: the ONNX exporter converts tfjs layers models only/);
  });

  it('a graph model on a machine with ORT falls through to wasm, logged', () => {
    const s = selectBackend({ request: 'auto', format: 'graph', probes: probes({ ort: true, ortCuda: false, tfNode: false, tfNodeGpu: false, wasm: true, gpu: false }) });
    expect(s.backend).to.equal('wasm');
    expect(s.log.join('\n')).to.match(/skip onnxruntime: available but cannot run a graph model/);
  });

  it('an explicitly requested backend that is installed is used as is', () => {
    const w = { ort: true, ortCuda: false, tfNode: false, tfNodeGpu: false, wasm: true, gpu: false };
    for (const b of ['onnxruntime', 'wasm', 'cpu'] as const) {
      const s = selectBackend({ request: b, format: 'layers', probes: probes(w) });
      expect(s.backend).to.equal(b);
      expect(s.reason).to.match(/^requested explicitly/);
    }
  });

  it('explicit requests for missing engines fail naming the package to install', () => {
    const none = { ort: false, ortCuda: false, tfNode: false, tfNodeGpu: false, wasm: false, gpu: false };
    const cases: Array<[BackendName, World, RegExp]> = [
      ['tensorflow', none, /--backend tensorflow needs @tensorflow\/tfjs-node .*npm install @tensorflow\/tfjs-node/],
      ['tensorflow-gpu', none, /--backend tensorflow-gpu needs @tensorflow\/tfjs-node-gpu .*npm install @tensorflow\/tfjs-node-gpu/],
      ['tensorflow-gpu', { ...none, tfNodeGpu: true }, /--backend tensorflow-gpu needs a visible NVIDIA GPU/],
      ['onnxruntime', none, /--backend onnxruntime needs onnxruntime-node .*npm install onnxruntime-node/],
      ['onnxruntime-cuda', none, /needs onnxruntime-node .*npm install onnxruntime-node/],
      ['onnxruntime-cuda', { ...none, ort: true }, /--backend onnxruntime-cuda needs a visible NVIDIA GPU/],
      ['onnxruntime-cuda', { ...none, ort: true, gpu: true }, /CUDA execution provider.*--onnxruntime-node-install=cuda12/],
      ['wasm', none, /--backend wasm needs @tensorflow\/tfjs-backend-wasm/],
    ];
    for (const [request, w, message] of cases) {
      expect(() => selectBackend({ request, format: 'layers', probes: probes(w) }), request).to.throw(BackendUnavailableError, message);
    }
  });

  it('explicit requests for an engine that cannot run the model format fail clearly', () => {
    const all = { ort: true, ortCuda: true, tfNode: true, tfNodeGpu: true, wasm: true, gpu: true };
    expect(() => selectBackend({ request: 'onnxruntime', format: 'graph', probes: probes(all) })).to.throw(/cannot run this graph model: the ONNX exporter converts tfjs layers models only/);
    expect(() => selectBackend({ request: 'wasm', format: 'onnx', probes: probes(all) })).to.throw(/cannot run this onnx model: only onnxruntime/);
    expect(() => selectBackend({ request: 'wasm', format: 'saved-model', probes: probes(all) })).to.throw(/SavedModel directories load only through @tensorflow\/tfjs-node/);
    expect(selectBackend({ request: 'tensorflow', format: 'saved-model', probes: probes(all) }).backend).to.equal('tensorflow');
  });

  it('auto with an .onnx model and no ONNX Runtime, or a SavedModel and no tfjs-node, names what to install', () => {
    const w = { ort: false, ortCuda: false, tfNode: false, tfNodeGpu: false, wasm: true, gpu: false };
    expect(() => selectBackend({ request: 'auto', format: 'onnx', probes: probes(w) })).to.throw(/npm install onnxruntime-node/);
    expect(() => selectBackend({ request: 'auto', format: 'saved-model', probes: probes(w) })).to.throw(/npm install @tensorflow\/tfjs-node/);
  });

  it('an unknown backend name is refused with the list of valid ones', () => {
    expect(() => selectBackend({ request: 'tpu' as never, format: 'layers', probes: probes(allWorlds()[63]) })).to.throw(/unknown backend "tpu".*auto, onnxruntime-cuda/);
  });

  it('GPU detection honours CUDA_VISIBLE_DEVICES hiding every device', () => {
    expect(detectGpu({ CUDA_VISIBLE_DEVICES: '' })).to.deep.equal({ visible: false, reason: 'CUDA_VISIBLE_DEVICES="" hides every GPU' });
    expect(detectGpu({ CUDA_VISIBLE_DEVICES: '-1' }).visible).to.equal(false);
    // This machine has no GPU: the real probe must say so, with a reason.
    const real = detectGpu({});
    expect(real.reason).to.be.a('string').and.not.equal('');
  });
});
