/**
 * Server transport credentials from PEM files: plaintext when no certificate is given (local runs),
 * TLS with a certificate, and mutual TLS (client certificates required and verified) when a CA is given.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  /** PEM certificate chain served to clients; no cert → plaintext (h2c). */
  certFile?: string;
  /** PEM private key for certFile. Required with certFile. */
  keyFile?: string;
  /** PEM CA bundle; when given, clients must present a certificate signed by it (mTLS). */
  caFile?: string;
}

export function readPem(file: string, what: string, flag: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${what} ${flag} ${file}: ${(e as Error).message}`);
  }
  // A clear message here beats an opaque "error:0480006C:PEM routines::no start line" from OpenSSL later.
  if (!data.toString('latin1').includes('-----BEGIN ')) {
    throw new Error(`${what} ${flag} ${file} is not PEM (no "-----BEGIN" line)`);
  }
  return data;
}

/** Throws an Error naming the flag when the combination is incomplete or a file is unreadable. */
export function serverCredentials(o: TlsFiles): grpc.ServerCredentials {
  if (!o.certFile && !o.keyFile) {
    if (o.caFile) throw new Error('--tls-ca needs --tls-cert and --tls-key (mutual TLS is on top of TLS)');
    return grpc.ServerCredentials.createInsecure();
  }
  if (!o.certFile) throw new Error('--tls-key given without --tls-cert');
  if (!o.keyFile) throw new Error('--tls-cert given without --tls-key');
  const cert = readPem(o.certFile, 'certificate', '--tls-cert');
  const key = readPem(o.keyFile, 'private key', '--tls-key');
  const ca = o.caFile ? readPem(o.caFile, 'CA bundle', '--tls-ca') : null;
  // checkClientCertificate=true makes the TLS handshake fail for clients without a cert signed by `ca`.
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

/** "plaintext" | "tls" | "mtls", for logs and GetServerInfo. */
export function transportSecurity(o: TlsFiles): 'plaintext' | 'tls' | 'mtls' {
  if (!o.certFile) return 'plaintext';
  return o.caFile ? 'mtls' : 'tls';
}
