/**
 * Bearer-token authentication as a grpc-js server interceptor (grpc-js >= 1.10 `new Server({ interceptors })`).
 *
 * Clients send `authorization: Bearer <token>` metadata. Tokens come from a file (one per line, `#` comments)
 * and/or an environment variable (comma-separated). Comparison is constant time: both sides are hashed to
 * SHA-256 first, so `timingSafeEqual` always compares 32 bytes and neither a token's content nor its length
 * leaks through timing, and every configured token is compared on every call (no early exit).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/** Default environment variable holding comma-separated tokens. */
export const TOKENS_ENV_VAR = 'INFER_TOKENS';
/** Environment variable holding comma-separated tokens for the metrics endpoint's /metrics. */
export const METRICS_TOKENS_ENV_VAR = 'INFER_METRICS_TOKENS';

export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_METHOD = '/grpc.health.v1.Health/Watch';
export const PING_METHOD = '/inference.v1.InferenceService/Ping';

/**
 * Exempt by default when auth is on: load balancers and orchestrators (Envoy, Docker HEALTHCHECK, k8s probes)
 * probe health without credentials, and health reveals nothing but SERVING/NOT_SERVING.
 */
export const DEFAULT_AUTH_EXEMPT: readonly string[] = [HEALTH_CHECK_METHOD, HEALTH_WATCH_METHOD];

export const MISSING_TOKEN_MESSAGE = "missing authorization metadata: send 'authorization: Bearer <token>'";
export const INVALID_TOKEN_MESSAGE = 'invalid token';
export const MALFORMED_TOKEN_MESSAGE = "malformed authorization metadata: expected 'Bearer <token>'";

function parseTokenLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/\s/.test(line)) throw new Error('a token must not contain whitespace (one token per line)');
    out.push(line);
  }
  return out;
}

/**
 * Reads tokens from `tokensFile` and from the environment variable NAMED `envVar` (default INFER_TOKENS).
 * Returns [] when neither provides any (auth off). Throws when a tokens file was given but is unreadable or
 * holds no token: the operator asked for auth, so starting without it would be a silent hole.
 */
export function loadTokens(o: { tokensFile?: string; envVar?: string }): string[] {
  const tokens: string[] = [];
  if (o.tokensFile) {
    let text: string;
    try {
      text = fs.readFileSync(o.tokensFile, 'utf8');
    } catch (e) {
      throw new Error(`cannot read --tokens-file ${o.tokensFile}: ${(e as Error).message}`);
    }
    try {
      tokens.push(...parseTokenLines(text));
    } catch (e) {
      throw new Error(`--tokens-file ${o.tokensFile}: ${(e as Error).message}`);
    }
    if (tokens.length === 0) throw new Error(`--tokens-file ${o.tokensFile} holds no token (blank and # lines are ignored)`);
  }
  const name = o.envVar ?? TOKENS_ENV_VAR;
  // Guards against passing the variable's value instead of its name, which would silently disable auth.
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`loadTokens: envVar must be a variable name, got "${name}"`);
  const fromEnv = process.env[name];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    for (const t of fromEnv.split(',')) {
      const token = t.trim();
      if (token === '') continue;
      if (/\s/.test(token)) throw new Error(`${name}: a token must not contain whitespace`);
      tokens.push(token);
    }
  }
  return [...new Set(tokens)];
}

/** SHA-256 of a token, the form tokenMatches compares. */
export function tokenDigest(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time membership test (see the module comment). */
export function tokenMatches(candidate: string, tokenDigests: readonly Buffer[]): boolean {
  const d = tokenDigest(candidate);
  let ok = false;
  for (const t of tokenDigests) ok = crypto.timingSafeEqual(d, t) || ok;
  return ok;
}

/** The token from `Bearer <token>` (scheme case-insensitive, RFC 7235), or undefined when malformed. */
export function bearerToken(header: string): string | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Does `method` (a full path "/pkg.Service/Method") match an entry: an exact path or "/pkg.Service/*". */
export function isExempt(method: string, exemptMethods: readonly string[]): boolean {
  for (const e of exemptMethods) {
    if (e === method) return true;
    if (e.endsWith('/*') && method.startsWith(e.slice(0, -1))) return true;
  }
  return false;
}

/**
 * Expands `--auth-exempt` values: "health" (Check and Watch), "ping", "reflection", "none", full method paths
 * "/pkg.Service/Method" or whole services "/pkg.Service/*". Unknown words throw, naming the accepted ones.
 */
export function resolveExemptMethods(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const v of values) {
    if (v === 'none') continue;
    else if (v === 'health') DEFAULT_AUTH_EXEMPT.forEach((m) => out.add(m));
    else if (v === 'ping') out.add(PING_METHOD);
    else if (v === 'reflection') {
      out.add('/grpc.reflection.v1.ServerReflection/*');
      out.add('/grpc.reflection.v1alpha.ServerReflection/*');
    } else if (/^\/[\w.]+\/(\w+|\*)$/.test(v)) out.add(v);
    else throw new Error(`--auth-exempt: unknown "${v}" (use health, ping, reflection, none, /pkg.Service/Method or /pkg.Service/*)`);
  }
  return [...out];
}

/** The tokens an interceptor accepts, replaceable while it runs (SIGHUP re-reads --tokens-file). */
export interface TokenSet {
  readonly digests: readonly Buffer[];
  /** Replaces every token at once; refuses an empty list (that would silently turn auth off). */
  replace(tokens: readonly string[]): void;
}

export function createTokenSet(tokens: readonly string[]): TokenSet {
  if (tokens.length === 0) throw new Error('a token set needs at least one token (leave auth out to disable it)');
  let digests = tokens.map(tokenDigest);
  return {
    get digests() {
      return digests;
    },
    replace(next) {
      if (next.length === 0) throw new Error('refusing to replace the tokens with none (auth would be off)');
      digests = next.map(tokenDigest);
    },
  };
}

/**
 * Why a call with this `authorization` header value must be refused (the UNAUTHENTICATED message), or
 * undefined when its token is valid. The one decision both ports make: the gRPC port's interceptor below and
 * the web port's (web-interceptors.ts).
 */
export function authFailure(header: string | undefined, digests: readonly Buffer[]): string | undefined {
  if (header === undefined) return MISSING_TOKEN_MESSAGE;
  const token = bearerToken(header);
  if (token === undefined) return MALFORMED_TOKEN_MESSAGE;
  return tokenMatches(token, digests) ? undefined : INVALID_TOKEN_MESSAGE;
}

/**
 * Rejects calls without a valid bearer token with UNAUTHENTICATED before the handler sees anything.
 * Place it AFTER a metrics interceptor in the `interceptors` array so rejected calls are still counted
 * (grpc-js wraps in array order: a later interceptor's status goes out through the earlier ones).
 */
export function authInterceptor(o: { tokens: string[] | TokenSet; exemptMethods: string[] }): grpc.ServerInterceptor {
  if (Array.isArray(o.tokens) && o.tokens.length === 0) throw new Error('authInterceptor needs at least one token (leave it out to disable auth)');
  const set = Array.isArray(o.tokens) ? createTokenSet(o.tokens) : o.tokens;
  const exempt = [...o.exemptMethods];
  return (methodDescriptor, call) => {
    if (isExempt(methodDescriptor.path, exempt)) return new grpc.ServerInterceptingCall(call);
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const values = metadata.get('authorization');
        const failure = authFailure(values.length > 0 ? String(values[0]) : undefined, set.digests);
        if (failure !== undefined) {
          call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: failure });
          return;
        }
        next(metadata);
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
