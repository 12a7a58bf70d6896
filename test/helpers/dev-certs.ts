import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEV_CERTS_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'dev-certs.sh');

export interface DevCerts {
  dir: string;
  ca: string;
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  jwks: string;
  jwt: string;
  devToken: string;
  remove(): void;
}

/** Runs scripts/dev-certs.sh into a fresh temp dir (the same script users run), returning the file paths. */
export function makeDevCerts(): DevCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rti-certs-'));
  execFileSync('bash', [DEV_CERTS_SCRIPT, dir], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const f = (n: string): string => path.join(dir, n);
  return {
    dir,
    ca: f('ca.crt'),
    otherCa: f('other-ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    jwks: f('jwks.json'),
    jwt: f('dev.jwt'),
    devToken: f('dev-token.txt'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
