/**
 * Shared loader for @tensorflow/tfjs-node and @tensorflow/tfjs-node-gpu. Both register a tfjs backend
 * named "tensorflow" backed by their own libtensorflow, so only one may ever be loaded in a process; this
 * module remembers which one was and refuses the other with an explanation.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './engine';
import type { TfjsBackendActivation } from './tfjs';

export type TfjsNativePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

/** The parts of tfjs-node's module we use (its typings are unavailable when it is not installed). */
export interface TfjsNodeModule {
  version: Record<string, string>;
  node: {
    loadSavedModel(path: string, tags?: string[], signature?: string): Promise<tf.InferenceModel>;
  };
}

let loadedPackage: TfjsNativePackage | undefined;
let loadedModule: TfjsNodeModule | undefined;

export function loadTfjsNative(pkg: TfjsNativePackage, backend: BackendName, install: string): TfjsNodeModule {
  if (loadedPackage && loadedPackage !== pkg) {
    throw new Error(`--backend ${backend} needs ${pkg}, but ${loadedPackage} is already loaded in this process and the two cannot share one (both bundle libtensorflow); restart with one backend`);
  }
  if (loadedModule) return loadedModule;
  try {
    // Guarded, dynamic require: the package is optional and absent on machines that cannot download
    // libtensorflow. A static import would make the whole server fail to start there.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loadedModule = require(pkg) as TfjsNodeModule;
  } catch (e) {
    throw new Error(`--backend ${backend} needs ${pkg}, which failed to load (${(e as Error).message.split('\n')[0]}): ${install}`);
  }
  loadedPackage = pkg;
  return loadedModule;
}

/** Version of the libtensorflow C library behind the "tensorflow" backend, when it exposes it. */
function libtensorflowVersion(): string | undefined {
  // NodeJSKernelBackend keeps its native binding in `binding`, with TF_Version from the C API.
  const b = tf.backend() as unknown as { binding?: { TF_Version?: string } };
  return typeof b.binding?.TF_Version === 'string' ? b.binding.TF_Version : undefined;
}

export async function activateTfjsNative(
  pkg: TfjsNativePackage,
  backend: 'tensorflow' | 'tensorflow-gpu',
  install: string,
  o: { threads?: number; log?: (msg: string) => void },
): Promise<TfjsBackendActivation & { module: TfjsNodeModule }> {
  // libtensorflow reads its intra-op pool size from this variable when the first session starts
  // (tensorflow/core/common_runtime/process_util.cc); an explicit setting in the environment wins.
  if (o.threads !== undefined && process.env.TF_NUM_INTRAOP_THREADS === undefined) {
    process.env.TF_NUM_INTRAOP_THREADS = String(o.threads);
  }
  const mod = loadTfjsNative(pkg, backend, install);
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but its "tensorflow" backend did not initialise`);
  await tf.ready();
  const version = mod.version[pkg.replace('@tensorflow/', '')] ?? mod.version['tfjs-node'] ?? 'unknown';
  const tfVersion = libtensorflowVersion();
  const intra = Number(process.env.TF_NUM_INTRAOP_THREADS);
  const threads = Number.isInteger(intra) && intra > 0 ? intra : 0;
  o.log?.(`${backend}: ${pkg} ${version}${tfVersion ? `, libtensorflow ${tfVersion}` : ''}, intra-op threads ${threads || 'TensorFlow default (all cores)'}`);
  return {
    module: mod,
    tfBackend: 'tensorflow',
    info: {
      backend,
      library: pkg,
      version,
      threads,
      executionProvider: `${pkg.replace('@tensorflow/', '')} (libtensorflow${tfVersion ? ` ${tfVersion}` : ''} ${backend === 'tensorflow-gpu' ? 'CUDA' : 'CPU'})`,
    },
  };
}
