/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests. Written here rather than
 * depending on a parser package because the point is to check the grammar line by line and fail loudly,
 * which lenient parsers do not do.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
// Prometheus reads values with Go's strconv.ParseFloat, which takes NaN/Inf case-insensitively (prom-client
// writes "Nan" for an event-loop lag not measured yet), so this does too.
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|[+-]?[Ii][Nn][Ff](?:inity)?|[Nn][Aa][Nn])';
const SAMPLE_RE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL}=${LABEL_VALUE})(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`,
);
const PAIR_RE = new RegExp(`(${LABEL})=(${LABEL_VALUE})`, 'g');
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return undefined;
}

/** Parses `text`, throwing an Error naming the line for anything outside the grammar. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`malformed ${where}`);
        return; // plain comment
      }
      const [, kind, name, rest] = m;
      let f = families.get(name);
      if (!f) {
        f = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, f);
      }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`unknown type at ${where}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples at ${where}`);
        f.type = rest;
      } else f.help = rest;
      return;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`not a valid sample: ${where}`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    for (const p of (labelText ?? '').matchAll(PAIR_RE)) {
      if (p[1] in labels) throw new Error(`duplicate label ${p[1]} at ${where}`);
      labels[p[1]] = JSON.parse(p[2]) as string;
    }
    const f = familyOf(name, families);
    if (!f) throw new Error(`sample without a preceding # TYPE for its family: ${where}`);
    const v = valueText.toLowerCase();
    const value = v === 'nan' ? NaN : /inf/.test(v) ? (v.startsWith('-') ? -Infinity : Infinity) : Number(valueText);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    if (f.help === '') throw new Error(`family ${f.name} has no # HELP`);
    if (f.type === 'histogram') checkHistogram(f);
  }
  return families;
}

/** Buckets cumulative and non-decreasing, a +Inf bucket equal to _count, per label set. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}_bucket without le`);
      g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][1] < sorted[i - 1][1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const inf = sorted[sorted.length - 1];
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (g.count !== inf[1]) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != _count ${g.count}`);
  }
}

/** Sum of a family's samples named `sampleName` whose labels include `match`. */
export function sumSamples(
  families: Map<string, Family>,
  sampleName: string,
  match: Record<string, string> = {},
): number {
  let total = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== sampleName) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
