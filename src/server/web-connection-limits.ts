/**
 * The gRPC port's connection limits applied to the web port's HTTP/2 sessions (HTTPS): node:http2 has no
 * idle or age limit of its own, so a client could hold a session, and what it pins, for ever.
 *
 * - Idle (`--max-connection-idle-ms`): a session with no open stream for that long is asked to go away
 *   (GOAWAY), as grpc-js's max_connection_idle does; a session that never opens a stream counts from its
 *   start.
 * - Age (`--max-connection-age-ms`, `--max-connection-age-grace-ms`): at that age the session gets a GOAWAY,
 *   its streams in flight get the grace to finish, and then it is destroyed, so clients rebalance across
 *   replicas as on the gRPC port.
 *
 * HTTP/1.1 connections keep Node's own limits (keep-alive idle, header and request timeouts; web.ts sets them).
 */
import type * as http2 from 'node:http2';

export interface ConnectionLimits {
  /** 0 = never. */
  idleMs: number;
  /** 0 = never. */
  ageMs: number;
  /** After the age GOAWAY, how long streams in flight may go on; 0 = until they end. */
  ageGraceMs: number;
}

/** Applies the limits to every session the server accepts from now on. */
export function limitSessions(server: http2.Http2SecureServer | http2.Http2Server, l: ConnectionLimits): void {
  server.on('session', (session: http2.ServerHttp2Session) => {
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, fn: () => void): NodeJS.Timeout => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      t.unref();
      timers.add(t);
      return t;
    };
    const goAway = (): void => {
      if (!session.closed && !session.destroyed) session.close();
    };
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      if (l.idleMs > 0) idle = later(l.idleMs, goAway);
    };
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open++;
      if (idle) {
        clearTimeout(idle);
        timers.delete(idle);
        idle = undefined;
      }
      stream.once('close', () => {
        if (--open === 0 && !session.closed) armIdle();
      });
    });
    armIdle();
    if (l.ageMs > 0) {
      later(l.ageMs, () => {
        goAway();
        if (l.ageGraceMs > 0) later(l.ageGraceMs, () => { if (!session.destroyed) session.destroy(); });
      });
    }
    session.once('close', () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    });
  });
}
