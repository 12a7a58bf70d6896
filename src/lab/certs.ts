/**
 * The edge's certificate and the lab's token, made by scripts/dev-certs.sh (the same script users run for
 * deploy/) into the lab's private directory, with the edge's public addresses and EDGE_SERVERNAME added to
 * the certificate's names. The edge needs two files the script does not write: the certificate and key in
 * one PEM (HAProxy's `crt`), and the JWT signing key's public half (HAProxy's `jwt_verify`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './run';
import { EDGE_ADDRESS, EDGE_SERVERNAME } from './topology';

export const DEV_CERTS_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'dev-certs.sh');

export interface LabCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** server.crt + server.key. */
  edgePem: string;
  jwks: string;
  /** Public key that verifies dev.jwt. */
  jwtPublicKey: string;
  token: string;
}

export function certsIn(dir: string): LabCerts {
  const f = (n: string): string => path.join(dir, n);
  const jwt = f('dev.jwt');
  return {
    dir,
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    edgePem: f('edge.pem'),
    jwks: f('jwks.json'),
    jwtPublicKey: f('jwt-public.pem'),
    token: fs.existsSync(jwt) ? fs.readFileSync(jwt, 'utf8').trim() : '',
  };
}

export function makeLabCerts(dir: string): LabCerts {
  const sans = `DNS:${EDGE_SERVERNAME},IP:${EDGE_ADDRESS.ipv4},IP:${EDGE_ADDRESS.ipv6}`;
  run('bash', [DEV_CERTS_SCRIPT, dir], { env: { ...process.env, EXTRA_SANS: sans } });
  const c = certsIn(dir);
  fs.writeFileSync(c.edgePem, Buffer.concat([fs.readFileSync(c.serverCert), fs.readFileSync(c.serverKey)]), { mode: 0o600 });
  run('openssl', ['pkey', '-in', path.join(dir, 'jwt-signing.key'), '-pubout', '-out', c.jwtPublicKey]);
  return certsIn(dir);
}
