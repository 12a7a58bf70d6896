/**
 * Strict static validation of an Envoy bootstrap (YAML) against Envoy's own v3 API protos, which
 * @grpc/grpc-js-xds ships under deps/ (envoy-api, xds, googleapis, protoc-gen-validate). No Envoy binary
 * exists on our build machines, so this is what stands between a typo and a proxy that refuses to start.
 *
 * It walks the YAML with protobufjs reflection the way Envoy's loader does (YAML → JSON → proto3 JSON with
 * unknown fields rejected): fields by proto name or JSON name, repeated, maps, oneofs, enums by name or
 * number, well-known types in their JSON forms (Duration "5s", wrappers as plain values, Struct, Any with
 * "@type" resolved and recursed into). On top, it enforces the protoc-gen-validate rules Envoy enforces
 * at load time that matter most (required messages and oneofs, min_len, min_items, numeric and duration
 * bounds, defined enums) and refuses deprecated fields. Every error names its path, e.g.
 * `static_resources.clusters[0].health_checks[0].grpc_health_check.servce_name`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

const XDS_DEPS = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')) + '/deps';
const INCLUDE_DIRS = [
  path.join(XDS_DEPS, 'envoy-api'),
  path.join(XDS_DEPS, 'xds'),
  path.join(XDS_DEPS, 'googleapis'),
  path.join(XDS_DEPS, 'protoc-gen-validate'),
  // google/protobuf/descriptor.proto (imported by validate.proto and the udpa annotations).
  path.dirname(require.resolve('protobufjs/package.json')),
];

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** Envoy API packages that are proto directories we can load when an Any names one of their messages. */
function protoDirForPackage(pkg: string): string | undefined {
  const rel = pkg.split('.').join(path.sep);
  for (const inc of INCLUDE_DIRS.slice(0, 4)) {
    const dir = path.join(inc, rel);
    if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) return dir;
  }
  return undefined;
}

export interface EnvoyApi {
  root: protobuf.Root;
  /** Loads the proto package of `fullName` on demand; returns the type or undefined when Envoy has none. */
  lookup(fullName: string): protobuf.Type | undefined;
}

let cached: EnvoyApi | undefined;

export function loadEnvoyApi(): EnvoyApi {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const inc of INCLUDE_DIRS) {
      const p = path.join(inc, target);
      if (fs.existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync(['envoy/config/bootstrap/v3/bootstrap.proto'], { keepCase: true });
  root.resolveAll();
  const loadedDirs = new Set<string>();
  const lookup = (fullName: string): protobuf.Type | undefined => {
    const find = (): protobuf.Type | undefined => {
      try {
        return root.lookupType(fullName);
      } catch {
        return undefined;
      }
    };
    const found = find();
    if (found) return found;
    const pkg = fullName.split('.').slice(0, -1).join('.');
    const dir = protoDirForPackage(pkg);
    if (!dir || loadedDirs.has(dir)) return undefined;
    loadedDirs.add(dir);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.proto'));
    root.loadSync(files.map((f) => path.join(dir, f)), { keepCase: true });
    root.resolveAll();
    return find();
  };
  cached = { root, lookup };
  return cached;
}

export interface ValidationResult {
  errors: string[];
  /** Every DataSource `filename` (certs, keys, JWKS) with its path, for the mount check. */
  filenames: { path: string; file: string }[];
  /** Every Any @type met, for reporting which extensions were checked. */
  anyTypes: Set<string>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;
const INT_RE = /^-?\d+$/;

function durationSeconds(v: string): number {
  return Number(v.slice(0, -1));
}

/** A PGV bound for Duration is a {seconds, nanos} message. */
function pgvDurationSeconds(d: unknown): number {
  if (!isObject(d)) return 0;
  return Number(d.seconds ?? 0) + Number(d.nanos ?? 0) / 1e9;
}

type Rules = Record<string, Record<string, unknown>>;

/** protobufjs types parsedOptions loosely; at run time it is a list of single-key option objects. */
function parsedOptions(field: protobuf.Field): Record<string, unknown>[] {
  return (field.parsedOptions ?? []) as unknown as Record<string, unknown>[];
}

function validateRules(field: protobuf.Field): Rules | undefined {
  for (const o of parsedOptions(field)) {
    const r = (o as Record<string, unknown>)['(validate.rules)'];
    if (isObject(r)) return r as unknown as Rules;
  }
  return undefined;
}

function isDeprecated(field: protobuf.Field): boolean {
  return parsedOptions(field).some((o) => o.deprecated === true);
}

class Walker {
  readonly result: ValidationResult = { errors: [], filenames: [], anyTypes: new Set() };
  constructor(private readonly api: EnvoyApi) {}

  private err(p: string, msg: string): void {
    this.result.errors.push(`${p || '<root>'}: ${msg}`);
  }

  message(type: protobuf.Type, value: Json, p: string): void {
    if (this.wellKnown(type, value, p)) return;
    if (!isObject(value)) {
      this.err(p, `expected an object for ${type.fullName.slice(1)}, got ${JSON.stringify(value)}`);
      return;
    }
    const byName = new Map<string, protobuf.Field>();
    for (const f of type.fieldsArray) {
      byName.set(f.name, f);
      byName.set(lowerCamel(f.name), f);
    }
    const seen = new Set<protobuf.Field>();
    for (const [key, v] of Object.entries(value)) {
      const fp = p ? `${p}.${key}` : key;
      const field = byName.get(key);
      if (!field) {
        this.err(fp, `unknown field "${key}" in ${type.fullName.slice(1)}`);
        continue;
      }
      if (seen.has(field)) this.err(fp, `field ${field.name} set twice (proto and JSON names)`);
      seen.add(field);
      if (isDeprecated(field)) this.err(fp, `deprecated field ${type.fullName.slice(1)}.${field.name}`);
      if (v === null) continue;
      this.field(field, v, fp);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => seen.has(f) && value[f.name] !== null && value[lowerCamel(f.name)] !== null);
      if (set.length > 1) this.err(p, `oneof ${oneof.name}: only one of ${set.map((f) => f.name).join(', ')} may be set`);
      const required = (oneof.options ?? {})['(validate.required)'] === true;
      if (required && set.length === 0) {
        this.err(p, `oneof ${oneof.name} is required: set one of ${oneof.fieldsArray.map((f) => f.name).join(', ')}`);
      }
    }
    for (const f of type.fieldsArray) {
      const rules = validateRules(f);
      const present = seen.has(f);
      const fp = p ? `${p}.${f.name}` : f.name;
      // PGV applies a oneof member's rules only when that member is the one set.
      if (!present && !f.partOf) {
        if (rules?.message?.required === true || rules?.duration?.required === true) this.err(fp, 'required field missing');
        if (typeof rules?.string?.min_len === 'number' && Number(rules.string.min_len) > 0) this.err(fp, 'required (min_len) field missing');
        if (typeof rules?.repeated?.min_items === 'number' && Number(rules.repeated.min_items) > 0) this.err(fp, 'required (min_items) field missing');
      }
    }
  }

  private field(field: protobuf.Field, v: Json, p: string): void {
    const rules = validateRules(field);
    if (field instanceof protobuf.MapField) {
      if (!isObject(v)) return this.err(p, 'expected a map (object)');
      for (const [k, item] of Object.entries(v)) {
        if (field.keyType !== 'string' && !INT_RE.test(k) && k !== 'true' && k !== 'false') this.err(`${p}.${k}`, `bad ${field.keyType} map key`);
        this.single(field, item, `${p}.${k}`, undefined);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) return this.err(p, `expected a list for repeated ${field.name}`);
      const min = rules?.repeated?.min_items;
      if (typeof min === 'number' && v.length < min) this.err(p, `needs at least ${min} item(s)`);
      v.forEach((item, i) => this.single(field, item, `${p}[${i}]`, (rules?.repeated?.items as Rules | undefined) ?? undefined));
      return;
    }
    this.single(field, v, p, rules);
  }

  private single(field: protobuf.Field, v: Json, p: string, rules: Rules | undefined): void {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) {
      this.message(rt, v, p);
      if (rt.fullName === '.google.protobuf.Duration' && typeof v === 'string' && DURATION_RE.test(v) && rules?.duration) {
        const s = durationSeconds(v);
        const d = rules.duration;
        if (d.gt !== undefined && !(s > pgvDurationSeconds(d.gt))) this.err(p, `must be > ${pgvDurationSeconds(d.gt)}s`);
        if (d.gte !== undefined && !(s >= pgvDurationSeconds(d.gte))) this.err(p, `must be >= ${pgvDurationSeconds(d.gte)}s`);
        if (d.lt !== undefined && !(s < pgvDurationSeconds(d.lt))) this.err(p, `must be < ${pgvDurationSeconds(d.lt)}s`);
        if (d.lte !== undefined && !(s <= pgvDurationSeconds(d.lte))) this.err(p, `must be <= ${pgvDurationSeconds(d.lte)}s`);
      }
      if (rt.fullName === '.envoy.config.core.v3.DataSource' && isObject(v) && typeof v.filename === 'string') {
        this.result.filenames.push({ path: p, file: v.filename });
      }
      return;
    }
    if (rt instanceof protobuf.Enum) {
      if (typeof v === 'string') {
        if (!(v in rt.values)) this.err(p, `unknown ${rt.fullName.slice(1)} value "${v}" (one of ${Object.keys(rt.values).join(', ')})`);
      } else if (typeof v === 'number') {
        if (!Object.values(rt.values).includes(v)) this.err(p, `unknown ${rt.fullName.slice(1)} number ${v}`);
      } else this.err(p, `expected an enum name for ${rt.fullName.slice(1)}`);
      return;
    }
    this.scalar(field.type, v, p, rules);
  }

  private scalar(type: string, v: Json, p: string, rules: Rules | undefined): void {
    switch (type) {
      case 'string': {
        if (typeof v !== 'string') return this.err(p, `expected a string, got ${JSON.stringify(v)}`);
        const r = rules?.string;
        if (typeof r?.min_len === 'number' && v.length < r.min_len) this.err(p, `must be at least ${r.min_len} character(s)`);
        return;
      }
      case 'bool':
        if (typeof v !== 'boolean') this.err(p, `expected true or false, got ${JSON.stringify(v)}`);
        return;
      case 'bytes':
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) this.err(p, 'expected base64 bytes');
        return;
      case 'double':
      case 'float': {
        const ok = typeof v === 'number' || (typeof v === 'string' && (/^(NaN|-?Infinity)$/.test(v) || !Number.isNaN(Number(v))));
        if (!ok) return this.err(p, `expected a number, got ${JSON.stringify(v)}`);
        this.bounds(Number(v), rules?.[type], p);
        return;
      }
      default: {
        // int32, uint32, sint32, fixed32, sfixed32 and the 64-bit variants: JSON allows numbers or digit strings.
        const n = typeof v === 'number' ? v : typeof v === 'string' && INT_RE.test(v) ? Number(v) : NaN;
        if (!Number.isInteger(n)) return this.err(p, `expected an integer (${type}), got ${JSON.stringify(v)}`);
        if (/^(uint|fixed)/.test(type) && n < 0) this.err(p, `${type} cannot be negative`);
        if (/32$/.test(type) && Math.abs(n) > 0xffffffff) this.err(p, `out of range for ${type}`);
        this.bounds(n, rules?.[type], p);
      }
    }
  }

  private bounds(n: number, r: Record<string, unknown> | undefined, p: string): void {
    if (!r) return;
    if (r.gt !== undefined && !(n > Number(r.gt))) this.err(p, `must be > ${String(r.gt)}`);
    if (r.gte !== undefined && !(n >= Number(r.gte))) this.err(p, `must be >= ${String(r.gte)}`);
    if (r.lt !== undefined && !(n < Number(r.lt))) this.err(p, `must be < ${String(r.lt)}`);
    if (r.lte !== undefined && !(n <= Number(r.lte))) this.err(p, `must be <= ${String(r.lte)}`);
  }

  /** proto3 JSON forms of the well-known types; returns true when `type` was one of them. */
  private wellKnown(type: protobuf.Type, v: Json, p: string): boolean {
    const name = type.fullName.slice(1);
    if (!name.startsWith('google.protobuf.')) return false;
    const short = name.slice('google.protobuf.'.length);
    switch (short) {
      case 'Any':
        this.any(v, p);
        return true;
      case 'Duration':
        if (typeof v !== 'string' || !DURATION_RE.test(v)) this.err(p, `expected a duration like "5s" or "0.250s", got ${JSON.stringify(v)}`);
        return true;
      case 'Timestamp':
        if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) this.err(p, 'expected an RFC 3339 timestamp');
        return true;
      case 'Struct':
        if (!isObject(v)) this.err(p, 'expected an object (Struct)');
        return true;
      case 'Value':
        return true;
      case 'ListValue':
        if (!Array.isArray(v)) this.err(p, 'expected a list (ListValue)');
        return true;
      case 'Empty':
        if (!isObject(v) || Object.keys(v).length > 0) this.err(p, 'expected {} (Empty)');
        return true;
      case 'FieldMask':
        if (typeof v !== 'string') this.err(p, 'expected a comma-separated string (FieldMask)');
        return true;
      case 'BoolValue':
        this.scalar('bool', v, p, undefined);
        return true;
      case 'StringValue':
        this.scalar('string', v, p, undefined);
        return true;
      case 'BytesValue':
        this.scalar('bytes', v, p, undefined);
        return true;
      case 'DoubleValue':
      case 'FloatValue':
        this.scalar('double', v, p, undefined);
        return true;
      case 'Int32Value':
      case 'UInt32Value':
      case 'Int64Value':
      case 'UInt64Value':
        this.scalar(short.replace('Value', '').toLowerCase(), v, p, undefined);
        return true;
      default:
        return false;
    }
  }

  private any(v: Json, p: string): void {
    if (!isObject(v)) return this.err(p, 'expected an object with "@type" (Any)');
    const url = v['@type'];
    if (typeof url !== 'string') return this.err(p, 'Any without "@type"');
    const m = /^(?:type\.googleapis\.com\/)(.+)$/.exec(url);
    if (!m) return this.err(`${p}.@type`, `type URL must start with type.googleapis.com/, got ${url}`);
    const type = this.api.lookup(m[1]);
    if (!type) return this.err(`${p}.@type`, `unknown type ${m[1]} (not in Envoy's API protos)`);
    this.result.anyTypes.add(m[1]);
    const { ['@type']: _t, ...rest } = v;
    // A well-known type inside an Any carries its JSON form under "value".
    if (type.fullName.startsWith('.google.protobuf.') && this.wellKnownHasSpecialJson(type)) {
      if (Object.keys(rest).some((k) => k !== 'value')) this.err(p, `Any of ${m[1]} takes only "value"`);
      this.message(type, rest.value ?? null, `${p}.value`);
      return;
    }
    this.message(type, rest, p);
  }

  private wellKnownHasSpecialJson(type: protobuf.Type): boolean {
    return type.fullName !== '.google.protobuf.Empty';
  }
}

/** Validates a parsed YAML/JSON object as `typeName` (default: the Envoy bootstrap). */
export function validateEnvoyConfig(config: unknown, typeName = BOOTSTRAP_TYPE): ValidationResult {
  const api = loadEnvoyApi();
  const type = api.lookup(typeName);
  if (!type) throw new Error(`type ${typeName} not found in Envoy's API protos`);
  const w = new Walker(api);
  w.message(type, config as Json, '');
  return w.result;
}
