import { randomUUID } from "node:crypto";
import type { PresenceRecord, PresenceStore } from "@parley/presence";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sleep, waitFor } from "./wait.js";

/** A store to test and how to dispose of it. */
export interface PresenceStoreUnderTest {
  store: PresenceStore;
  /** Closes the store and anything the factory started (connections, containers). */
  cleanup: () => Promise<void>;
}

/** Short TTL for expiry tests: long enough to be set reliably, short enough to wait out. */
const SHORT_TTL_MS = 400;
/** TTL for connections that must stay live for the whole test. */
const LONG_TTL_MS = 60_000;
/** Deadline for anything eventual (expiry sweeps, pub/sub delivery). */
const DEADLINE_MS = 10_000;

/** Collects presence transitions per user. */
function recorder() {
  const events: PresenceRecord[] = [];
  return {
    events,
    listener: (presence: PresenceRecord) => {
      events.push(presence);
    },
    of: (userId: string) => events.filter((e) => e.userId === userId).map((e) => e.online),
  };
}

/**
 * Conformance suite for {@link PresenceStore} implementations. Every test uses
 * fresh random user ids and keys, so it can run against a shared Redis; timings use
 * real short TTLs and polling with generous deadlines.
 *
 * @param name - suite title, e.g. `"memory"`.
 * @param factory - creates a fresh store for each test.
 *
 * @example
 * ```ts
 * describePresenceStore("memory", async () => {
 *   const store = createMemoryPresenceStore({ sweepIntervalMs: 50 });
 *   return { store, cleanup: () => store.close() };
 * });
 * ```
 */
export function describePresenceStore(name: string, factory: () => Promise<PresenceStoreUnderTest>): void {
  describe(`PresenceStore conformance: ${name}`, () => {
    let underTest: PresenceStoreUnderTest | undefined;
    let store: PresenceStore;
    const run = randomUUID().slice(0, 8);
    let seq = 0;
    /** A user id (or key) no other test or run uses. */
    const fresh = (label: string) => `${label}-${run}-${++seq}-${randomUUID().slice(0, 8)}`;

    beforeEach(async () => {
      underTest = await factory();
      store = underTest.store;
    });

    afterEach(async () => {
      const current = underTest;
      underTest = undefined;
      await current?.cleanup();
    });

    it("reports an unknown user offline with no lastSeen", async () => {
      const user = fresh("ghost");
      const [presence] = await store.getPresence([user]);
      expect(presence).toEqual({ userId: user, online: false });
      expect(presence?.lastSeenMs).toBeUndefined();
    });

    it("reports a user online after a heartbeat, with lastSeen", async () => {
      const user = fresh("alice");
      const before = Date.now();
      await store.heartbeat(user, "c1", LONG_TTL_MS);
      const [presence] = await store.getPresence([user]);
      expect(presence?.userId).toBe(user);
      expect(presence?.online).toBe(true);
      expect(presence?.lastSeenMs).toEqual(expect.any(Number));
      // Loose bound: allows for a store whose clock is another machine's.
      expect(Math.abs((presence?.lastSeenMs ?? 0) - before)).toBeLessThan(60_000);
    });

    it("keeps a user online while heartbeats arrive before the TTL runs out", async () => {
      const user = fresh("steady");
      const ttlMs = 800;
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        await store.heartbeat(user, "c1", ttlMs);
        const [presence] = await store.getPresence([user]);
        expect(presence?.online).toBe(true);
        await sleep(100);
      }
    });

    it("stays online until the last of two connections disconnects, then records lastSeen", async () => {
      const user = fresh("bob");
      await store.heartbeat(user, "phone", LONG_TTL_MS);
      await store.heartbeat(user, "laptop", LONG_TTL_MS);
      await store.disconnect(user, "phone");
      expect((await store.getPresence([user]))[0]?.online).toBe(true);

      const beforeLast = Date.now();
      await store.disconnect(user, "laptop");
      const [presence] = await store.getPresence([user]);
      expect(presence?.online).toBe(false);
      expect(presence?.lastSeenMs).toEqual(expect.any(Number));
      expect(Math.abs((presence?.lastSeenMs ?? 0) - beforeLast)).toBeLessThan(60_000);
    });

    it("ignores a disconnect of an unknown connection or user", async () => {
      const user = fresh("carol");
      await store.disconnect(fresh("nobody"), "c1");
      await store.heartbeat(user, "c1", LONG_TTL_MS);
      await store.disconnect(user, "not-a-connection");
      expect((await store.getPresence([user]))[0]?.online).toBe(true);
    });

    it("takes a user offline when the TTL runs out, and tells watchers", async () => {
      const user = fresh("dave");
      const watcher = recorder();
      const unsubscribe = store.watch([user], watcher.listener);
      try {
        await store.heartbeat(user, "c1", SHORT_TTL_MS);
        await waitFor(() => watcher.of(user).length >= 1, DEADLINE_MS, "online event");
        await waitFor(
          async () => {
            const [presence] = await store.getPresence([user]);
            return presence?.online === false;
          },
          DEADLINE_MS,
          "offline by TTL",
        );
        const [presence] = await store.getPresence([user]);
        expect(presence?.lastSeenMs).toEqual(expect.any(Number));
        await waitFor(() => watcher.of(user).length >= 2, DEADLINE_MS, "offline event");
        expect(watcher.of(user)).toEqual([true, false]);
        const offline = watcher.events.at(-1);
        expect(offline).toMatchObject({ userId: user, online: false });
        expect(offline?.lastSeenMs).toEqual(expect.any(Number));
      } finally {
        unsubscribe();
      }
    });

    it("tells watchers online and offline transitions of the watched users only", async () => {
      const watched = fresh("erin");
      const other = fresh("frank");
      const watcher = recorder();
      // Sees everything; used as a barrier before asserting that something did not arrive.
      const sentinel = recorder();
      const stopWatcher = store.watch([watched], watcher.listener);
      const stopSentinel = store.watch([watched, other], sentinel.listener);
      try {
        await store.heartbeat(other, "c1", LONG_TTL_MS);
        await store.heartbeat(watched, "c1", LONG_TTL_MS);
        await store.heartbeat(watched, "c2", LONG_TTL_MS); // already online: no event
        await store.heartbeat(watched, "c1", LONG_TTL_MS); // refresh: no event
        await store.disconnect(watched, "c1"); // c2 still live: no event
        await store.disconnect(other, "c1");
        await waitFor(() => sentinel.of(other).length >= 2, DEADLINE_MS, "sentinel to see frank go offline");
        expect(sentinel.of(other)).toEqual([true, false]);
        expect(watcher.of(watched)).toEqual([true]);
        expect(watcher.of(other)).toEqual([]);
        expect(watcher.events[0]).toMatchObject({ userId: watched, online: true });

        await store.disconnect(watched, "c2");
        await waitFor(() => watcher.of(watched).length >= 2, DEADLINE_MS, "offline event");
        expect(watcher.of(watched)).toEqual([true, false]);
        expect(watcher.events.every((e) => e.userId === watched)).toBe(true);
      } finally {
        stopWatcher();
        stopSentinel();
      }
    });

    it("stops telling a watcher after it unsubscribes", async () => {
      const user = fresh("grace");
      const watcher = recorder();
      const sentinel = recorder();
      const stopWatcher = store.watch([user], watcher.listener);
      const stopSentinel = store.watch([user], sentinel.listener);
      try {
        await store.heartbeat(user, "c1", LONG_TTL_MS);
        await waitFor(() => watcher.of(user).length >= 1, DEADLINE_MS, "online event");
        stopWatcher();
        stopWatcher(); // harmless twice
        await store.disconnect(user, "c1");
        await store.heartbeat(user, "c2", LONG_TTL_MS);
        await waitFor(() => sentinel.of(user).length >= 3, DEADLINE_MS, "sentinel to see three transitions");
        expect(sentinel.of(user)).toEqual([true, false, true]);
        expect(watcher.of(user)).toEqual([true]);
      } finally {
        stopSentinel();
      }
    });

    it("delivers published payloads to every subscriber of that user only, bytes exact", async () => {
      const user = fresh("heidi");
      const other = fresh("ivan");
      const first: Uint8Array[] = [];
      const second: Uint8Array[] = [];
      const others: Uint8Array[] = [];
      const stopFirst = store.subscribe(user, (p) => first.push(p));
      const stopSecond = store.subscribe(user, (p) => second.push(p));
      const stopOthers = store.subscribe(other, (p) => others.push(p));
      try {
        // Every byte value, including ones that are not valid UTF-8 on their own.
        const payload = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) % 256);
        const expected = [...payload];
        await store.publish(user, payload);
        await waitFor(
          () => first.length >= 1 && second.length >= 1,
          DEADLINE_MS,
          "both subscribers to receive",
        );
        expect([...(first[0] ?? [])]).toEqual(expected);
        expect([...(second[0] ?? [])]).toEqual(expected);

        // Barrier: once the other user's subscriber has its own payload, it would
        // already have received ours had it been misrouted.
        await store.publish(other, Uint8Array.of(42));
        await waitFor(() => others.length >= 1, DEADLINE_MS, "other subscriber to receive its payload");
        expect(others.map((p) => [...p])).toEqual([[42]]);

        stopFirst();
        await store.publish(user, Uint8Array.of(1, 2, 3));
        await waitFor(() => second.length >= 2, DEADLINE_MS, "second payload");
        expect([...(second[1] ?? [])]).toEqual([1, 2, 3]);
        expect(first).toHaveLength(1);
        expect(second).toHaveLength(2);
      } finally {
        stopFirst();
        stopSecond();
        stopOthers();
      }
    });

    it("keeps delivering to other subscribers and watchers when a listener throws", async () => {
      const user = fresh("judy");
      const received: Uint8Array[] = [];
      const watcher = recorder();
      const stops = [
        store.subscribe(user, () => {
          throw new Error("subscriber failure (expected by the test)");
        }),
        store.subscribe(user, (p) => received.push(p)),
        store.watch([user], () => {
          throw new Error("watcher failure (expected by the test)");
        }),
        store.watch([user], watcher.listener),
      ];
      try {
        await store.publish(user, Uint8Array.of(9));
        await store.heartbeat(user, "c1", LONG_TTL_MS);
        await waitFor(() => received.length >= 1, DEADLINE_MS, "payload despite a throwing subscriber");
        await waitFor(
          () => watcher.of(user).length >= 1,
          DEADLINE_MS,
          "online event despite a throwing watcher",
        );
        await store.publish(user, Uint8Array.of(10));
        await waitFor(() => received.length >= 2, DEADLINE_MS, "second payload");
        expect(received.map((p) => [...p])).toEqual([[9], [10]]);
      } finally {
        for (const stop of stops) stop();
      }
    });

    it("allows `limit` hits per window, then refuses until a new window", async () => {
      const key = fresh("rate");
      const other = fresh("rate-other");
      const windowMs = 1000;
      const start = Date.now();
      const results: boolean[] = [];
      for (let i = 0; i < 5; i++) results.push(await store.hit(key, 3, windowMs));
      expect(results).toEqual([true, true, true, false, false]);
      // Keys are counted separately.
      expect(await store.hit(other, 3, windowMs)).toBe(true);

      await waitFor(() => store.hit(key, 3, windowMs), DEADLINE_MS, "a new window");
      expect(Date.now() - start).toBeGreaterThanOrEqual(windowMs - 100);
      // The new window allows `limit` hits again (one used by the wait above).
      expect(await store.hit(key, 3, windowMs)).toBe(true);
      expect(await store.hit(key, 3, windowMs)).toBe(true);
      expect(await store.hit(key, 3, windowMs)).toBe(false);
    });

    it("answers getPresence in the order asked", async () => {
      const a = fresh("a");
      const b = fresh("b");
      const c = fresh("c");
      await store.heartbeat(b, "c1", LONG_TTL_MS);
      const records = await store.getPresence([c, b, a, b]);
      expect(records.map((r) => r.userId)).toEqual([c, b, a, b]);
      expect(records.map((r) => r.online)).toEqual([false, true, false, true]);
      expect(await store.getPresence([])).toEqual([]);
    });
  });
}
