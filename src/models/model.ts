/** What a model is, independent of the engine that runs it. */
import type { ModelFormat } from '../backends/engine';

/**
 * How pixels (0..255, RGB) become model input:
 * signed = x/127.5 − 1, unit = x/255, none = x as is, caffe = BGR order minus the ImageNet channel means.
 */
export const NORMALIZATIONS = ['signed', 'unit', 'none', 'caffe'] as const;
export type Normalize = (typeof NORMALIZATIONS)[number];

export type { ModelFormat };

export type WeightsKind = 'real' | 'synthetic';

export interface ModelDescriptor {
  name: string;
  /** "builtin:googlenet", a path or a URL. */
  source: string;
  format: ModelFormat;
  inputHeight: number;
  inputWidth: number;
  inputChannels: number;
  normalize: Normalize;
  /** labels[i] names output i; length equals the model's output size. */
  labels: string[];
  labelsSource: string;
  weights: WeightsKind;
  /** Path, URL or "seed:N". */
  weightsSource: string;
  parameters: number;
}
