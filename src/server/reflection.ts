/**
 * gRPC server reflection (v1 and v1alpha, @grpc/reflection) so grpcurl and `buf curl` work without the proto
 * file. The inference service comes from the descriptor set `npm run generate` writes (src/gen/inference.binpb,
 * so reflection can never disagree with the generated stubs); grpc.health.v1 from grpc-health-check's proto.
 *
 * The health descriptor needs a repair: proto-loader builds descriptors with protobufjs, which writes
 * relative type names ("Statuses") and names map entries after the field ("Statuses"), where protoc writes
 * ".grpc.health.v1.HealthListResponse.StatusesEntry". Strict clients (buf curl, grpcurl: Go's protodesc)
 * then fail to link the file ("failed to find service grpc.health.v1.Health"). repairDescriptor() rewrites
 * it the way protoc would.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
// protobufjs is what proto-loader and @grpc/reflection themselves use to read and write descriptors.
import * as descriptor from 'protobufjs/ext/descriptor';

/** Works from src/server (ts-node) and dist/src/server (compiled): the .binpb is not copied by tsc. */
export function descriptorSetPath(): string {
  const candidates = [
    path.resolve(__dirname, '..', 'gen', 'inference.binpb'),
    path.resolve(__dirname, '..', '..', '..', 'src', 'gen', 'inference.binpb'),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`descriptor set not found (looked in ${candidates.join(', ')}); run \`npm run generate\``);
  return found;
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

interface FieldLike { name?: string; typeName?: string }
interface MessageLike { name?: string; field?: FieldLike[]; nestedType?: MessageLike[]; enumType?: { name?: string }[]; options?: { mapEntry?: boolean } }
interface FileLike { package?: string; messageType?: MessageLike[]; service?: { method?: { inputType?: string; outputType?: string }[] }[] }

const camel = (s: string): string => s.replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase());

/** Qualifies relative type names and renames map entries as protoc does. Exported for its test. */
export function repairDescriptor(bytes: Uint8Array): Uint8Array {
  const file = descriptor.FileDescriptorProto.decode(bytes) as unknown as FileLike;
  const pkg = file.package ? `.${file.package}` : '';
  const known = new Set<string>();
  const renames = new Map<string, string>();
  const index = (msgs: MessageLike[] | undefined, scope: string): void => {
    for (const m of msgs ?? []) {
      const fqn = `${scope}.${m.name}`;
      for (const nested of m.nestedType ?? []) {
        if (nested.options?.mapEntry) {
          const field = (m.field ?? []).find((f) => f.typeName === nested.name || f.typeName?.endsWith(`.${nested.name}`));
          if (field?.name && nested.name !== `${camel(field.name)}Entry`) {
            renames.set(`${fqn}.${nested.name}`, `${fqn}.${camel(field.name)}Entry`);
            nested.name = `${camel(field.name)}Entry`;
          }
        }
      }
      known.add(fqn);
      for (const e of m.enumType ?? []) known.add(`${fqn}.${e.name}`);
      index(m.nestedType, fqn);
    }
  };
  index(file.messageType, pkg);
  for (const n of renames.values()) known.add(n);
  const resolve = (name: string, scope: string): string => {
    if (name.startsWith('.')) return renames.get(name) ?? name;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      const cand = `${s}.${name}`;
      if (renames.has(cand)) return renames.get(cand)!;
      if (known.has(cand)) return cand;
      if (s === '') return `.${name}`;
    }
  };
  const fix = (msgs: MessageLike[] | undefined, scope: string): void => {
    for (const m of msgs ?? []) {
      const fqn = `${scope}.${m.name}`;
      for (const f of m.field ?? []) if (f.typeName) f.typeName = resolve(f.typeName, fqn);
      fix(m.nestedType, fqn);
    }
  };
  fix(file.messageType, pkg);
  for (const s of file.service ?? [])
    for (const m of s.method ?? []) {
      if (m.inputType) m.inputType = resolve(m.inputType, pkg);
      if (m.outputType) m.outputType = resolve(m.outputType, pkg);
    }
  return descriptor.FileDescriptorProto.encode(file as unknown as descriptor.IFileDescriptorProto).finish();
}

export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  const inference = protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(descriptorSetPath()), LOADER_OPTIONS);
  const health = protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS);
  for (const def of Object.values(health)) {
    const d = def as { fileDescriptorProtos?: Buffer[] };
    if (Array.isArray(d.fileDescriptorProtos)) d.fileDescriptorProtos = d.fileDescriptorProtos.map((b) => Buffer.from(repairDescriptor(b)));
  }
  return { ...inference, ...health };
}

export function addReflection(server: grpc.Server): void {
  new ReflectionService(reflectionPackageDefinition()).addToServer(server);
}
