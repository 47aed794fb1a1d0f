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
  return async (token) => {
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
