import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorReason, reasonOf } from "@parley/protocol";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTokenVerifier, mintToken } from "./auth.js";

const secret = "auth-test-secret-of-enough-length";

/** The Parley reason a rejected verification carries. */
async function rejection(promise: Promise<unknown>): Promise<{ reason: string; message: string }> {
  const err = await promise.then(
    () => expect.fail("the token was accepted"),
    (e: unknown) => e,
  );
  return { reason: ErrorReason[reasonOf(err)] ?? "", message: (err as Error).message };
}

describe("createTokenVerifier's cache of verified tokens", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("rejects an expired token with the usual error even though it was verified (and cached) before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    vi.setSystemTime(start);
    const { token } = await mintToken({ secret, userId: "alice", ttlSec: 30 });
    const verify = createTokenVerifier({ secret });
    const uncached = createTokenVerifier({ secret, cacheMaxEntries: 0 });

    expect((await verify(token)).userId).toBe("alice");
    vi.setSystemTime(start + 20_000);
    expect((await verify(token)).userId).toBe("alice");

    // Past exp plus the 5 s clock tolerance, well inside the 60 s cache lifetime.
    vi.setSystemTime(start + 40_000);
    const cachedErr = await rejection(verify(token));
    expect(cachedErr.reason).toBe("TOKEN_EXPIRED");
    expect(cachedErr).toEqual(await rejection(uncached(token)));
  });

  it("never accepts a token with a bad signature, even when the genuine token with the same claims is cached", async () => {
    const verify = createTokenVerifier({ secret });
    const { token } = await mintToken({ secret, userId: "alice" });
    const [header, payload] = token.split(".");
    const { token: otherKeys } = await mintToken({ secret: `${secret}-other`, userId: "mallory" });
    const forged = `${header}.${payload}.${otherKeys.split(".")[2]}`;

    expect((await verify(token)).userId).toBe("alice");
    for (let i = 0; i < 2; i++) {
      expect(await rejection(verify(forged))).toMatchObject({ reason: "TOKEN_INVALID" });
    }
    // The genuine token is still accepted after the failures.
    expect((await verify(token)).userId).toBe("alice");
  });

  it("stops accepting a token whose JWKS key was removed once the cache lifetime is over", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    vi.setSystemTime(start);
    const jwk = async (kid: string) => {
      const { publicKey, privateKey } = await generateKeyPair("ES256");
      return { privateKey, public: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
    };
    const [keyA, keyB] = [await jwk("a"), await jwk("b")];
    let served = [keyA.public];
    const server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const verify = createTokenVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
      const token = await new SignJWT({ name: "Alice" })
        .setProtectedHeader({ alg: "ES256", kid: "a" })
        .setSubject("alice")
        .setIssuer("parley")
        .setAudience("parley")
        .setIssuedAt()
        .setExpirationTime("2h")
        .sign(keyA.privateKey);
      expect((await verify(token)).userId).toBe("alice");

      // Key "a" is revoked. The token is valid for another 2 h, but past the cache's
      // 60 s (and jose's 10 min JWKS cache) it is verified again against the new set.
      served = [keyB.public];
      vi.setSystemTime(start + 11 * 60_000);
      expect(await rejection(verify(token))).toMatchObject({ reason: "TOKEN_INVALID" });
    } finally {
      server.close();
    }
  });
});
