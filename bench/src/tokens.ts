import { SignJWT } from "jose";
import type { JwtParams } from "./targets.js";

/** Mints (and caches) HS256 tokens the way a deployment's identity provider would. */
export function createTokenMinter(jwt: JwtParams): (userId: string) => Promise<string> {
  const key = new TextEncoder().encode(jwt.secret);
  const cache = new Map<string, string>();
  return async (userId) => {
    const cached = cache.get(userId);
    if (cached) return cached;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ name: userId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(userId)
      .setIssuer(jwt.issuer)
      .setAudience(jwt.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 6 * 3600)
      .sign(key);
    cache.set(userId, token);
    return token;
  };
}
