import { Code } from "@connectrpc/connect";
import { ErrorReason, LIMITS, type Presence } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import type { SuiteContext, TestUser } from "./context.js";
import { expectParleyError, expectStreamError, waitFor } from "./helpers.js";

/** How long a closed stream may take to turn a user offline. */
const OFFLINE_WITHIN_MS = 10_000;

async function presenceOf(viewer: TestUser, userId: string): Promise<Presence | undefined> {
  const res = await viewer.clients.presence.getPresence({ userIds: [userId] });
  return res.presence.find((p) => p.userId === userId);
}

/** Presence (online/last seen, WatchPresence) and discovery. */
export function presenceTests(ctx: SuiteContext): void {
  describe("presence", () => {
    it("a user is online while a Subscribe stream is open, then offline with last_seen", async () => {
      const [viewer, u] = await ctx.users(2, "pres");
      if (!viewer || !u) throw new Error("users");
      const never = await presenceOf(viewer, u.id);
      expect(never?.online ?? false).toBe(false);
      expect(never?.lastSeen).toBeUndefined();

      const stream = await ctx.connect(u, { deviceId: "pres-1" });
      await waitFor(async () => (await presenceOf(viewer, u.id))?.online, 5_000, "user to be online");
      // A second device closing does not take the user offline while the first stays open.
      const second = await ctx.connect(u, { deviceId: "pres-2" });
      await second.close();
      expect((await presenceOf(viewer, u.id))?.online).toBe(true);

      await stream.close();
      const off = await waitFor(
        async () => {
          const p = await presenceOf(viewer, u.id);
          return p && !p.online && p.lastSeen ? p : undefined;
        },
        OFFLINE_WITHIN_MS,
        "user to be offline with last_seen",
      );
      expect(off.lastSeen).toBeDefined();
    });

    it("WatchPresence sends the current state first, then each change", async () => {
      const [watcher, u] = await ctx.users(2, "watch");
      if (!watcher || !u) throw new Error("users");
      const w = ctx.watchPresence(watcher, [u.id]);
      const firstState = await w.until(() => w.items[0], 10_000, "the initial presence");
      expect(firstState.presence?.userId).toBe(u.id);
      expect(firstState.presence?.online).toBe(false);
      const stream = await ctx.connect(u);
      await w.until(
        () => w.items.find((r) => r.presence?.userId === u.id && r.presence.online),
        10_000,
        "an online update",
      );
      await stream.close();
      const offline = await w.until(
        () => {
          const i = w.items.findIndex((r) => r.presence?.userId === u.id && r.presence.online);
          return w.items.slice(i + 1).find((r) => r.presence?.userId === u.id && !r.presence.online);
        },
        OFFLINE_WITHIN_MS + 5_000,
        "an offline update",
      );
      expect(offline.presence?.lastSeen).toBeDefined();
    });

    it("more than 200 users is LIMIT_OUT_OF_RANGE", async () => {
      const u = await ctx.user("presmax");
      const ids = Array.from({ length: LIMITS.maxPresenceUsers + 1 }, (_, i) => `p${i}.${u.id.slice(0, 40)}`);
      await expectParleyError(
        u.clients.presence.getPresence({ userIds: ids }),
        Code.InvalidArgument,
        ErrorReason.LIMIT_OUT_OF_RANGE,
      );
      await expectStreamError(
        (signal) => u.clients.presence.watchPresence({ userIds: ids }, { signal }),
        Code.InvalidArgument,
        ErrorReason.LIMIT_OUT_OF_RANGE,
      );
      const ok = await u.clients.presence.getPresence({ userIds: ids.slice(0, LIMITS.maxPresenceUsers) });
      expect(ok.presence.length).toBeLessThanOrEqual(LIMITS.maxPresenceUsers);
    });
  });

  describe("discovery", () => {
    it("GetEndpoint answers with a gateway id (and needs a token)", async () => {
      const u = await ctx.user("disc");
      const res = await u.clients.discovery.getEndpoint({});
      expect(res.gatewayId).not.toBe("");
      expect(typeof res.baseUrl).toBe("string");
      await expectParleyError(
        ctx.rawClients(undefined).discovery.getEndpoint({}),
        Code.Unauthenticated,
        ErrorReason.TOKEN_MISSING,
      );
    });
  });
}
