/**
 * The page's run settings, from its URL (`?source=camera&fps=10&budget=200&autostart=1&duration=10`) and
 * then its form. Out-of-range values are refused with a message naming the parameter, as rtinfer's flags are.
 */

export interface PageSettings {
  source: 'camera' | 'file';
  fps: number;
  /** Frames in flight before a due frame is dropped. */
  window: number;
  durationS: number;
  warmupS: number;
  /** Latency budget for the verdict, ms. */
  budgetMs: number;
  percentile: number;
  topK: number;
  /** 'model': JPEG at the model's input size; 'full': the source's own size. */
  encode: 'model' | 'full';
  /** Per-call deadline, ms. */
  deadlineMs: number;
  autostart: boolean;
}

export const DEFAULT_SETTINGS: PageSettings = {
  source: 'camera',
  fps: 10,
  window: 4, // rtinfer stream's default
  durationS: 10,
  warmupS: 1, // rtinfer stream's default
  budgetMs: 200,
  percentile: 99,
  topK: 5,
  encode: 'model',
  deadlineMs: 5000,
  autostart: false,
};

function num(params: URLSearchParams, name: string, fallback: number, min: number, max: number, integer = false): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`URL parameter ${name}=${raw}: must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
  }
  return v;
}

export function settingsFromUrl(search: string): PageSettings {
  const p = new URLSearchParams(search);
  const d = DEFAULT_SETTINGS;
  const source = p.get('source') ?? d.source;
  if (source !== 'camera' && source !== 'file') throw new Error(`URL parameter source=${source}: camera or file`);
  const encode = p.get('encode') ?? d.encode;
  if (encode !== 'model' && encode !== 'full') throw new Error(`URL parameter encode=${encode}: model or full`);
  return {
    source,
    fps: num(p, 'fps', d.fps, 0.1, 120),
    window: num(p, 'window', d.window, 1, 64, true),
    durationS: num(p, 'duration', d.durationS, 1, 3600),
    warmupS: num(p, 'warmup', d.warmupS, 0, 60),
    budgetMs: num(p, 'budget', d.budgetMs, 1, 60_000),
    percentile: num(p, 'percentile', d.percentile, 1, 100),
    topK: num(p, 'top_k', d.topK, 1, 20, true),
    encode,
    deadlineMs: num(p, 'deadline', d.deadlineMs, 10, 600_000),
    autostart: p.get('autostart') === '1' || p.get('autostart') === 'true',
  };
}
