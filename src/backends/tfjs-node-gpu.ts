/**
 * The "tensorflow-gpu" backend: @tensorflow/tfjs-node-gpu (libtensorflow with CUDA). Installed only in the
 * GPU image (Dockerfile.gpu); selection offers it only when a GPU is visible. Cannot share a process with
 * @tensorflow/tfjs-node (tfjs-native.ts enforces that).
 */
import { activateTfjsNative, TfjsNodeModule } from './tfjs-native';
import type { TfjsBackendActivation } from './tfjs';

export const TFJS_NODE_GPU_INSTALL = 'npm install @tensorflow/tfjs-node-gpu (needs CUDA 11.2 and cuDNN 8.1; see Dockerfile.gpu)';

export function activateTfjsNodeGpu(o: { threads?: number; log?: (msg: string) => void } = {}): Promise<TfjsBackendActivation & { module: TfjsNodeModule }> {
  return activateTfjsNative('@tensorflow/tfjs-node-gpu', 'tensorflow-gpu', TFJS_NODE_GPU_INSTALL, o);
}
