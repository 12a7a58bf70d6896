/**
 * Class labels: ImageNet's 1000 (or 1001 with "background" at index 0, the TF-slim convention), or a
 * user's file. Whatever the source, the result has exactly one label per model output, or loading fails
 * with a message that says how to fix it: a silently shifted label list would make every answer wrong.
 */
import * as fs from 'node:fs';
// The deep import loads only the class table (a plain CJS object); the package index would also pull in
// the MobileNet loader and tfjs-converter, which we do not need for labels.
import { IMAGENET_CLASSES } from '@tensorflow-models/mobilenet/dist/imagenet_classes';

export const IMAGENET_SOURCE = 'imagenet (@tensorflow-models/mobilenet IMAGENET_CLASSES)';
export const BACKGROUND_LABEL = 'background';

/** The 1000 ImageNet (ILSVRC-2012) class names, index = class id. */
export function imagenetLabels(): string[] {
  const table = IMAGENET_CLASSES as { [index: number]: string };
  const labels: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const name = table[i];
    if (typeof name !== 'string') throw new Error(`IMAGENET_CLASSES has no entry ${i}; is @tensorflow-models/mobilenet intact?`);
    labels.push(name);
  }
  return labels;
}

/**
 * Labels from a file: a JSON array of strings, or plain text with one label per line (blank trailing lines
 * ignored; blank lines in the middle are an error because they would shift every later label).
 */
export function readLabelsFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read labels file ${file}: ${(e as Error).message}`);
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new Error(`labels file ${file} starts with "[" but is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((l) => typeof l === 'string')) {
      throw new Error(`labels file ${file} must be a JSON array of strings`);
    }
    return parsed as string[];
  }
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) {
    throw new Error(`labels file ${file} has a blank line at line ${blank + 1}; every line must name one class`);
  }
  if (lines.length === 0) throw new Error(`labels file ${file} is empty`);
  return lines.map((l) => l.trim());
}

export interface ResolvedLabels {
  labels: string[];
  source: string;
}

/**
 * One label per output. `given` (from --labels or a sidecar manifest) wins; without it, 1000 outputs get
 * ImageNet and 1001 outputs get "background" + ImageNet; any other size gets "class_<i>" names, logged.
 * A given list that is one short of a 1001-class model is read as ImageNet-style without the background
 * entry and gets it prepended (logged); any other mismatch is an error.
 */
export function resolveLabels(
  numClasses: number,
  given: { labels: string[]; source: string } | undefined,
  log: (msg: string) => void = () => {},
): ResolvedLabels {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`model output size ${numClasses} is not a positive integer; cannot attach labels`);
  }
  if (given) {
    if (given.labels.length === numClasses) return { labels: given.labels, source: given.source };
    if (numClasses === 1001 && given.labels.length === 1000) {
      log(`labels: ${given.source} has 1000 labels for a 1001-class model; prepending "${BACKGROUND_LABEL}" at index 0`);
      return { labels: [BACKGROUND_LABEL, ...given.labels], source: `${given.source} (+background at 0)` };
    }
    throw new Error(
      `labels: ${given.source} has ${given.labels.length} labels but the model outputs ${numClasses} classes; ` +
        `give exactly one label per output (for a 1001-class model the first is "${BACKGROUND_LABEL}")`,
    );
  }
  if (numClasses === 1000) {
    log(`labels: model has 1000 outputs and no labels were given; using ImageNet labels`);
    return { labels: imagenetLabels(), source: IMAGENET_SOURCE };
  }
  if (numClasses === 1001) {
    log(`labels: model has 1001 outputs and no labels were given; using "${BACKGROUND_LABEL}" + ImageNet labels`);
    return { labels: [BACKGROUND_LABEL, ...imagenetLabels()], source: `${IMAGENET_SOURCE} with background at 0` };
  }
  log(`labels: model has ${numClasses} outputs and no labels were given; naming them class_0..class_${numClasses - 1} (pass --labels FILE)`);
  return { labels: Array.from({ length: numClasses }, (_, i) => `class_${i}`), source: 'generated (class_<index>)' };
}
