/** Versions of the components that shape a measurement, for GetServerInfo and the start-up log. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

/** An installed package's version, or undefined when it is not installed (optional engines). */
export function packageVersion(name: string): string | undefined {
  try {
    // Resolve the entry point and walk up to its package.json: some packages do not export ./package.json.
    let dir = path.dirname(require.resolve(name));
    for (let i = 0; i < 6; i++) {
      const pj = path.join(dir, 'package.json');
      if (fs.existsSync(pj)) {
        const parsed = JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string; version?: string };
        if (parsed.name === name) return parsed.version;
      }
      dir = path.dirname(dir);
    }
  } catch {
    // not installed
  }
  return undefined;
}

/** This project's version (package.json beside src/ or dist/). */
export function serverVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    const p = path.resolve(__dirname, rel);
    try {
      const parsed = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'realtime-inference' && parsed.version) return parsed.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

export function componentVersions(): Record<string, string> {
  const out: Record<string, string> = {
    server: serverVersion(),
    node: process.versions.node,
    'grpc-js': packageVersion('@grpc/grpc-js') ?? 'unknown',
    sharp: sharp.versions.sharp ?? 'unknown',
    libvips: sharp.versions.vips,
  };
  for (const p of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'onnxruntime-node']) {
    const v = packageVersion(p);
    if (v) out[p.replace('@tensorflow/', '')] = v;
  }
  return out;
}
