/**
 * Pinning which client certificates may call (--tls-allowed-client), on top of mutual TLS: the CA vouches
 * that a certificate is genuine, this says which of its holders are let in. A certificate matches when its
 * subject CN or one of its subject alternative names (DNS, URI, email, IP) equals an allowed identity.
 * Anything else gets PERMISSION_DENIED before the handler runs.
 */
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';

/** The identities a client certificate carries: its subject CN and every subject alternative name. */
export function certificateIdentities(cert: PeerCertificate | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const out: string[] = [];
  const cn = cert.subject?.CN;
  if (cn) out.push(...(Array.isArray(cn) ? cn : [cn]));
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*(DNS|URI|email|IP Address):(.+)$/.exec(part);
    if (m) out.push(m[2].trim());
  }
  return out;
}

export function clientIdentityInterceptor(allowed: readonly string[]): grpc.ServerInterceptor {
  const ok = new Set(allowed);
  return (_method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const ids = certificateIdentities(call.getAuthContext().sslPeerCertificate);
        if (ids.some((id) => ok.has(id))) return next(metadata);
        call.sendStatus({
          code: grpc.status.PERMISSION_DENIED,
          details: ids.length === 0 ? 'no client certificate identity (--tls-allowed-client needs mutual TLS)' : `client certificate "${ids[0].slice(0, 128)}" is not allowed (--tls-allowed-client)`,
        });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
