/**
 * The side-effecting half of backend selection: what is installed and whether a GPU is visible.
 * Probing never loads tfjs-node or tfjs-node-gpu (loading one would register the "tensorflow" backend, and
 * the two cannot share a process); it checks the package and its native binding on disk instead.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { probeOnnxRuntime } from './onnxruntime';
import type { BackendProbes, PackageProbe } from './select';

/** Directory of an installed package, or an Error saying why it cannot be found. */
export function resolvePackageDir(name: string): string | Error {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch (first) {
    // Packages with an "exports" map may hide package.json; resolve the entry point and walk up instead.
    try {
      let dir = path.dirname(require.resolve(name));
      for (let i = 0; i < 8; i++) {
        const pj = path.join(dir, 'package.json');
        if (fs.existsSync(pj) && (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === name) return dir;
        dir = path.dirname(dir);
      }
    } catch {
      // fall through to the first error, which is the informative one ("Cannot find module ...")
    }
    return first instanceof Error ? first : new Error(String(first));
  }
}

function packageVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** A plain package: installed when it resolves. */
export function probePackage(name: string): PackageProbe {
  const dir = resolvePackageDir(name);
  if (dir instanceof Error) return { installed: false, reason: `${name} not installed (${firstLine(dir.message)})` };
  return { installed: true, version: packageVersion(dir), reason: `${name} at ${dir}` };
}

/**
 * tfjs-node / tfjs-node-gpu: the npm package can be present while its install script failed to fetch
 * libtensorflow, leaving no native binding; then it would fail on first require, so it counts as absent.
 */
export function probeTfjsNative(name: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): PackageProbe {
  const pkg = probePackage(name);
  if (!pkg.installed) return pkg;
  const dir = resolvePackageDir(name) as string;
  const libDir = path.join(dir, 'lib');
  let binding: string | undefined;
  try {
    for (const sub of fs.readdirSync(libDir)) {
      const candidate = path.join(libDir, sub, 'tfjs_binding.node');
      if (fs.existsSync(candidate)) binding = candidate;
    }
  } catch {
    // no lib dir: binding stays undefined
  }
  if (!binding) {
    return {
      installed: false,
      version: pkg.version,
      reason: `${name} ${pkg.version ?? ''} is present but its native binding (lib/napi-v*/tfjs_binding.node) is missing; its install step (libtensorflow download) probably failed`,
    };
  }
  return { installed: true, version: pkg.version, reason: `${name} ${pkg.version ?? ''} with ${binding}` };
}

export function probeWasm(): PackageProbe {
  // The project's lib setting has no DOM/WebAssembly typings; the global is present in every supported Node.
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return { installed: false, reason: 'this Node.js has no WebAssembly' };
  return probePackage('@tensorflow/tfjs-backend-wasm');
}

/**
 * Is an NVIDIA GPU visible to this process? CUDA_VISIBLE_DEVICES="" or "-1" hides all; otherwise the
 * device nodes (/dev/nvidia0, …, Linux and containers run with the NVIDIA runtime), else `nvidia-smi -L`
 * (Windows, unusual layouts) with a short timeout so a hung driver cannot stall start-up.
 */
export function detectGpu(env: NodeJS.ProcessEnv = process.env): { visible: boolean; reason: string } {
  const cvd = env.CUDA_VISIBLE_DEVICES;
  if (cvd !== undefined && (cvd.trim() === '' || cvd.trim() === '-1')) {
    return { visible: false, reason: `CUDA_VISIBLE_DEVICES="${cvd}" hides every GPU` };
  }
  let nodes: string[] = [];
  try {
    nodes = fs.readdirSync('/dev').filter((n) => /^nvidia\d+$/.test(n));
  } catch {
    // no /dev (Windows): rely on nvidia-smi
  }
  if (nodes.length > 0) return { visible: true, reason: nodes.map((n) => `/dev/${n}`).join(', ') };
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { timeout: 3000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const gpus = out.split('\n').filter((l) => l.startsWith('GPU '));
    if (gpus.length > 0) return { visible: true, reason: `nvidia-smi -L: ${gpus.map((g) => g.trim()).join('; ')}` };
    return { visible: false, reason: 'nvidia-smi -L lists no GPU' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no nvidia-smi' : `nvidia-smi -L failed (${code ?? firstLine((e as Error).message)})`;
    return { visible: false, reason: `no /dev/nvidia* device and ${why}` };
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** Everything selectBackend needs, probed for real. Takes tens of milliseconds (nvidia-smi at worst 3 s). */
export function probeBackends(): BackendProbes {
  const ort = probeOnnxRuntime();
  return {
    tfjsNode: probeTfjsNative('@tensorflow/tfjs-node'),
    tfjsNodeGpu: probeTfjsNative('@tensorflow/tfjs-node-gpu'),
    wasm: probeWasm(),
    cpu: probePackage('@tensorflow/tfjs'),
    onnxRuntime: { installed: ort.installed, version: ort.version, cuda: ort.cuda, reason: ort.reason },
    gpu: detectGpu(),
  };
}
