import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorReason, LIMITS } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { clientId, mintToken } from "./clients.js";
import { createDirect, fullHistory, type SuiteContext } from "./context.js";
import { errorShape, expectParleyError, expectStreamError } from "./helpers.js";
import type { ServiceFeatures } from "./types.js";

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Authentication: tokens on every RPC and stream, WhoAmI, DevLogin. */
export function authTests(ctx: SuiteContext, features: ServiceFeatures): void {
  describe("auth", () => {
    /** Tokens that must be rejected with TOKEN_INVALID, built for the current service. */
    async function invalidTokens(): Promise<Record<string, string>> {
      const { secret, issuer, audience } = ctx.service.jwt;
      const now = Math.floor(Date.now() / 1000);
      const sub = "valid.user";
      return {
        "wrong secret": await mintToken({ secret: `${secret}-other`, issuer, audience, subject: sub }),
        "wrong issuer": await mintToken({ secret, issuer: `${issuer}-other`, audience, subject: sub }),
        "wrong audience": await mintToken({ secret, issuer, audience: `${audience}-other`, subject: sub }),
        garbage: "not-a-jwt",
        "three garbage parts": "abc.def.ghi",
        "alg none": `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ iss: issuer, aud: audience, sub, iat: now, exp: now + 3600 })}.`,
        "missing sub": await mintToken({ secret, issuer, audience, subject: undefined }),
        "sub with a space": await mintToken({ secret, issuer, audience, subject: "bad user" }),
        "sub too long": await mintToken({
          secret,
          issuer,
          audience,
          subject: "a".repeat(LIMITS.maxUserIdLength + 1),
        }),
      };
    }

    async function expiredToken(userId: string): Promise<string> {
      const { secret, issuer, audience } = ctx.service.jwt;
      const now = Math.floor(Date.now() / 1000);
      return mintToken({
        secret,
        issuer,
        audience,
        subject: userId,
        issuedAt: now - 7200,
        expiresAt: now - 600,
      });
    }

    it("WhoAmI returns the token's subject, name and expiry", async () => {
      const u = await ctx.user("who");
      const res = await u.clients.auth.whoAmI({});
      expect(res.userId).toBe(u.id);
      expect(res.displayName).toBe(u.name);
      expect(res.expiresAt).toBeDefined();
      const exp = res.expiresAt ? timestampDate(res.expiresAt).getTime() : 0;
      expect(Math.abs(exp - (Date.now() + 3600_000))).toBeLessThan(120_000);
    });

    it("a missing Authorization header is TOKEN_MISSING on unary RPCs and changes nothing", async () => {
      const [a, b] = await ctx.users(2, "miss");
      if (!a || !b) throw new Error("users");
      const conv = await createDirect(a, b);
      const anon = ctx.rawClients(undefined);
      await expectParleyError(anon.auth.whoAmI({}), Code.Unauthenticated, ErrorReason.TOKEN_MISSING);
      await expectParleyError(
        anon.conversations.listConversations({}),
        Code.Unauthenticated,
        ErrorReason.TOKEN_MISSING,
      );
      await expectParleyError(
        anon.messages.sendMessage({
          conversationId: conv.conversationId,
          clientMsgId: clientId(),
          text: "x",
        }),
        Code.Unauthenticated,
        ErrorReason.TOKEN_MISSING,
      );
      expect(await fullHistory(a, conv.conversationId)).toEqual([]);
    });

    it("a non-Bearer Authorization header is unauthenticated", async () => {
      const raw = ctx.rawClients("Basic dXNlcjpwYXNz");
      try {
        await raw.auth.whoAmI({});
        expect.fail("WhoAmI with a Basic header succeeded");
      } catch (err) {
        const shape = errorShape(err, false);
        expect(shape.code).toBe("Unauthenticated");
        expect(["TOKEN_MISSING", "TOKEN_INVALID"]).toContain(shape.reason);
      }
    });

    it("invalid tokens are TOKEN_INVALID on unary RPCs and change nothing", async () => {
      const [a, b] = await ctx.users(2, "inv");
      if (!a || !b) throw new Error("users");
      const conv = await createDirect(a, b);
      for (const [what, token] of Object.entries(await invalidTokens())) {
        const raw = ctx.rawClients(`Bearer ${token}`);
        try {
          await expectParleyError(raw.auth.whoAmI({}), Code.Unauthenticated, ErrorReason.TOKEN_INVALID);
          await expectParleyError(
            raw.messages.sendMessage({
              conversationId: conv.conversationId,
              clientMsgId: clientId(),
              text: "x",
            }),
            Code.Unauthenticated,
            ErrorReason.TOKEN_INVALID,
          );
        } catch (err) {
          throw new Error(`token "${what}": ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      expect(await fullHistory(a, conv.conversationId)).toEqual([]);
    });

    it("an expired token is TOKEN_EXPIRED and changes nothing", async () => {
      const [a, b] = await ctx.users(2, "exp");
      if (!a || !b) throw new Error("users");
      const conv = await createDirect(a, b);
      const raw = ctx.rawClients(`Bearer ${await expiredToken(a.id)}`);
      await expectParleyError(raw.auth.whoAmI({}), Code.Unauthenticated, ErrorReason.TOKEN_EXPIRED);
      await expectParleyError(
        raw.messages.sendMessage({ conversationId: conv.conversationId, clientMsgId: clientId(), text: "x" }),
        Code.Unauthenticated,
        ErrorReason.TOKEN_EXPIRED,
      );
      expect(await fullHistory(a, conv.conversationId)).toEqual([]);
    });

    it("Subscribe checks the token too (missing, invalid, expired)", async () => {
      const u = await ctx.user("subauth");
      const cases: [string | undefined, ErrorReason][] = [
        [undefined, ErrorReason.TOKEN_MISSING],
        ["Bearer not-a-jwt", ErrorReason.TOKEN_INVALID],
        [`Bearer ${(await invalidTokens())["wrong secret"]}`, ErrorReason.TOKEN_INVALID],
        [`Bearer ${await expiredToken(u.id)}`, ErrorReason.TOKEN_EXPIRED],
      ];
      for (const [authorization, reason] of cases) {
        const raw = ctx.rawClients(authorization);
        await expectStreamError(
          (signal) => raw.sync.subscribe({ cursor: "" }, { signal }),
          Code.Unauthenticated,
          reason,
        );
      }
    });

    // Only the tests for the deployment's DevLogin setting are registered.
    if (features.devLogin) {
      it("DevLogin issues a working token when enabled", async () => {
        const anon = ctx.rawClients(undefined);
        const id = `dev.${clientId()
          .slice(2, 14)
          .replace(/[^A-Za-z0-9]/g, "x")}`;
        const res = await anon.auth.devLogin({ userId: id, displayName: "Dev User" });
        expect(res.userId).toBe(id);
        expect(res.token).not.toBe("");
        const who = await ctx.rawClients(`Bearer ${res.token}`).auth.whoAmI({});
        expect(who.userId).toBe(id);
      });

      it("DevLogin rejects an invalid or empty user id", async () => {
        const anon = ctx.rawClients(undefined);
        await expectParleyError(
          anon.auth.devLogin({ userId: "bad user!" }),
          Code.InvalidArgument,
          ErrorReason.FIELD_INVALID,
          "user_id",
        );
        await expectParleyError(
          anon.auth.devLogin({ userId: "x".repeat(LIMITS.maxUserIdLength + 1) }),
          Code.InvalidArgument,
          ErrorReason.FIELD_INVALID,
          "user_id",
        );
        await expectParleyError(
          anon.auth.devLogin({ userId: "" }),
          Code.InvalidArgument,
          ErrorReason.FIELD_REQUIRED,
        );
      });
    } else {
      it("DevLogin answers DEV_LOGIN_DISABLED when disabled", async () => {
        await expectParleyError(
          ctx.rawClients(undefined).auth.devLogin({ userId: "someone" }),
          Code.PermissionDenied,
          ErrorReason.DEV_LOGIN_DISABLED,
        );
      });
    }
  });
}
