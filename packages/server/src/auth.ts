import { createContextKey } from "@connectrpc/connect";
import { ErrorReason, isValidUserId, parleyError } from "@parley/protocol";
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from "jose";

/** The authenticated caller of a request, from its verified token. */
export interface AuthUser {
  userId: string;
  displayName: string;
  /** Token expiry, ms since epoch. */
  expiresAtMs: number;
}

/** How tokens are verified: an HS256 shared secret or a JWKS URL. */
export type TokenKeyOptions = { secret: string } | { jwksUrl: string };

/** Options for {@link createTokenVerifier}. */
export type TokenVerifierOptions = TokenKeyOptions & {
  /** Required `iss` claim. @defaultValue "parley" */
  issuer?: string;
  /** Required `aud` claim. @defaultValue "parley" */
  audience?: string;
  /** Allowed clock skew in seconds. @defaultValue 5 */
  clockToleranceSec?: number;
  /**
   * How many verified tokens to remember, so a client's repeated calls with the same
   * token skip the signature check (0 turns the cache off). An entry holds the verified
   * claims and lasts until the token's `exp` or {@link TokenVerifierOptions.cacheTtlSec}
   * after it was verified, whichever is sooner; the least recently used entry goes first
   * when the cache is full. Only tokens that passed every check are cached.
   *
   * With `jwksUrl`, a token verified with a key that is then removed from the JWKS stays
   * accepted for at most `cacheTtlSec` after its last full verification (on top of however
   * long jose's own JWKS cache still serves the removed key).
   * @defaultValue 10000
   */
  cacheMaxEntries?: number;
  /** Longest time a verified token is accepted without checking its signature again. @defaultValue 60 */
  cacheTtlSec?: number;
};

/** Verifies bearer tokens; rejects with a Parley `unauthenticated` error. */
export type TokenVerifier = (token: string) => Promise<AuthUser>;

/** Where the handlers find the caller, set by the auth interceptor. */
export const authUserKey = createContextKey<AuthUser | undefined>(undefined, {
  description: "parley auth user",
});

/** A verifier for JWTs: HS256 with a secret, or any JWKS key. The user id is `sub`; the display name is `name`. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const issuer = options.issuer ?? "parley";
  const audience = options.audience ?? "parley";
  const clockTolerance = options.clockToleranceSec ?? 5;
  const verify =
    "secret" in options
      ? (() => {
          const key = new TextEncoder().encode(options.secret);
          return (token: string) =>
            jwtVerify(token, key, { issuer, audience, clockTolerance, algorithms: ["HS256"] });
        })()
      : (() => {
          const jwks = createRemoteJWKSet(new URL(options.jwksUrl));
          return (token: string) => jwtVerify(token, jwks, { issuer, audience, clockTolerance });
        })();
  const verifyUncached = async (token: string): Promise<AuthUser> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await verify(token));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw parleyError(ErrorReason.TOKEN_EXPIRED, "unable to authenticate; the token has expired", {
          cause: err,
        });
      }
      throw parleyError(ErrorReason.TOKEN_INVALID, "unable to authenticate; the token is not valid", {
        cause: err,
      });
    }
    const sub = payload.sub ?? "";
    if (!isValidUserId(sub)) {
      throw parleyError(
        ErrorReason.TOKEN_INVALID,
        "unable to authenticate; the token's subject is not a valid user id",
      );
    }
    return {
      userId: sub,
      displayName: typeof payload.name === "string" ? payload.name : sub,
      expiresAtMs: (payload.exp ?? 0) * 1000,
    };
  };
  const maxEntries = options.cacheMaxEntries ?? 10_000;
  if (maxEntries <= 0) return verifyUncached;
  const ttlMs = (options.cacheTtlSec ?? 60) * 1000;
  /** token -> verified user and when the entry stops counting; Map order is the LRU order. */
  const cache = new Map<string, { user: AuthUser; validUntilMs: number }>();
  return async (token) => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit) {
      cache.delete(token);
      // Past exp or the TTL: verify again, so an expired token gets exactly today's error.
      if (now < hit.validUntilMs) {
        cache.set(token, hit);
        return hit.user;
      }
    }
    const user = Object.freeze(await verifyUncached(token));
    const expMs = user.expiresAtMs > 0 ? user.expiresAtMs : Number.POSITIVE_INFINITY;
    cache.set(token, { user, validUntilMs: Math.min(expMs, now + ttlMs) });
    if (cache.size > maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    return user;
  };
}

/** Options for {@link mintToken}. */
export interface MintTokenOptions {
  secret: string;
  userId: string;
  displayName?: string;
  /** @defaultValue "parley" */
  issuer?: string;
  /** @defaultValue "parley" */
  audience?: string;
  /** Lifetime in seconds. @defaultValue 86400 */
  ttlSec?: number;
}

/** Signs an HS256 token Parley accepts. For dev login and tests; production uses its own identity provider. */
export async function mintToken(options: MintTokenOptions): Promise<{ token: string; expiresAtMs: number }> {
  const nowSec = Math.floor(Date.now() / 1000);
  const exp = nowSec + (options.ttlSec ?? 86_400);
  const token = await new SignJWT({ name: options.displayName ?? options.userId })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(options.userId)
    .setIssuer(options.issuer ?? "parley")
    .setAudience(options.audience ?? "parley")
    .setIssuedAt(nowSec)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(options.secret));
  return { token, expiresAtMs: exp * 1000 };
}

/** The bearer token of an Authorization header; rejects when there is none. */
export function bearerToken(header: string | null): string {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  if (!match?.[1]) {
    throw parleyError(
      ErrorReason.TOKEN_MISSING,
      "unable to authenticate; send an 'Authorization: Bearer <token>' header",
    );
  }
  return match[1];
}
