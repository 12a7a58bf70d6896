/** The "tensorflow" backend: @tensorflow/tfjs-node (libtensorflow on the CPU). Optional; loaded guarded. */
import { activateTfjsNative, TfjsNodeModule } from './tfjs-native';
import type { TfjsBackendActivation } from './tfjs';

export const TFJS_NODE_INSTALL = 'npm install @tensorflow/tfjs-node (it downloads libtensorflow while installing)';

export function activateTfjsNode(o: { threads?: number; log?: (msg: string) => void } = {}): Promise<TfjsBackendActivation & { module: TfjsNodeModule }> {
  return activateTfjsNative('@tensorflow/tfjs-node', 'tensorflow', TFJS_NODE_INSTALL, o);
}
