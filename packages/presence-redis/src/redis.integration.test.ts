import type { PresenceRecord, PresenceStore } from "@parley/presence";
import { ErrorReason, reasonOf } from "@parley/protocol";
import { describePresenceStore, sleep, waitFor } from "@parley/testkit";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createRedisPresenceStore, createRedisRoutingMap, type RoutingMap } from "./index.js";
import {
  deleteKeys,
  freePort,
  fresh,
  type PrivateRedis,
  REDIS_URL,
  rejection,
  startPrivateRedis,
  uniquePrefix,
} from "./test-redis.js";

const prefix = uniquePrefix("presence");
afterAll(() => deleteKeys(REDIS_URL, prefix));

describePresenceStore("redis", async () => {
  // Quiet: the suite has listeners that throw on purpose.
  const store = createRedisPresenceStore({
    url: REDIS_URL,
    keyPrefix: prefix,
    sweepIntervalMs: 50,
    onListenerError: () => {},
  });
  return { store, cleanup: () => store.close() };
});

const online = (events: PresenceRecord[], userId: string) =>
  events.filter((e) => e.userId === userId).map((e) => e.online);

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(Error);
  expect(reasonOf(err)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
  expect((err as Error).message).toMatch(/unable to .+; redis is unavailable/);
}

describe("createRedisPresenceStore", () => {
  const open: { close(): Promise<void> }[] = [];
  /** A store as another process would have it: its own connections, the same Redis and prefix. */
  const openStore = (options: { sweepIntervalMs?: number; url?: string; commandTimeoutMs?: number } = {}) => {
    const store = createRedisPresenceStore({ url: REDIS_URL, keyPrefix: prefix, ...options });
    open.push(store);
    return store;
  };

  afterEach(async () => {
    for (const closable of open.splice(0)) await closable.close();
  });

  it("shares presence, watch events and published payloads between two processes", async () => {
    const a = openStore();
    const b = openStore();
    const user = fresh("alice");
    const events: PresenceRecord[] = [];
    const payloads: number[][] = [];
    const stopWatch = b.watch([user], (e) => events.push(e));
    const stopSubscribe = b.subscribe(user, (p) => payloads.push([...p]));
    // B's subscriptions are confirmed once one of its own commands has run.
    await b.getPresence([user]);

    await a.heartbeat(user, "c1", 60_000);
    expect((await b.getPresence([user]))[0]).toMatchObject({ userId: user, online: true });
    await waitFor(() => events.length >= 1, 10_000, "online event in the other process");

    await a.publish(user, Uint8Array.of(0, 255, 128, 7));
    await waitFor(() => payloads.length >= 1, 10_000, "payload in the other process");
    expect(payloads).toEqual([[0, 255, 128, 7]]);

    await a.disconnect(user, "c1");
    await waitFor(() => events.length >= 2, 10_000, "offline event in the other process");
    expect(online(events, user)).toEqual([true, false]);
    expect(events[1]?.lastSeenMs).toEqual(expect.any(Number));
    expect((await b.getPresence([user]))[0]?.online).toBe(false);
    stopWatch();
    stopSubscribe();
  });

  it("takes a crashed process's connection offline after its TTL and tells other processes' watchers", async () => {
    const crashing = openStore();
    const watcher = openStore({ sweepIntervalMs: 100 });
    const user = fresh("crash");
    const events: PresenceRecord[] = [];
    const stop = watcher.watch([user], (e) => events.push(e));
    await watcher.getPresence([user]);

    await crashing.heartbeat(user, "c1", 300);
    const lastHeartbeat = Date.now();
    // The gateway dies: no disconnect, no more heartbeats, nothing of it left to sweep.
    await crashing.close();

    await waitFor(() => events.length >= 2, 10_000, "offline event after the TTL");
    expect(online(events, user)).toEqual([true, false]);
    const offline = events[1];
    expect(offline?.lastSeenMs).toEqual(expect.any(Number));
    // Last seen is when the connection ran out (Redis's clock; loose bound for skew).
    expect(Math.abs((offline?.lastSeenMs ?? 0) - (lastHeartbeat + 300))).toBeLessThan(5_000);
    expect(await watcher.getPresence([user])).toEqual([
      { userId: user, online: false, lastSeenMs: offline?.lastSeenMs },
    ]);
    stop();
  });

  it("reports a transition once when several processes sweep the same expiry", async () => {
    const stores = [
      openStore({ sweepIntervalMs: 20 }),
      openStore({ sweepIntervalMs: 20 }),
      openStore({ sweepIntervalMs: 20 }),
    ];
    const user = fresh("swept");
    const events: PresenceRecord[] = [];
    const stop = stores[0]?.watch([user], (e) => events.push(e));
    const other = openStore({ sweepIntervalMs: 60_000 });
    const otherEvents: PresenceRecord[] = [];
    const stopOther = other.watch([user], (e) => otherEvents.push(e));
    await Promise.all([stores[0]?.getPresence([user]), other.getPresence([user])]);

    await stores[1]?.heartbeat(user, "c1", 200);
    await waitFor(() => events.length >= 2 && otherEvents.length >= 2, 10_000, "online and offline events");
    await sleep(300);
    expect(online(events, user)).toEqual([true, false]);
    expect(online(otherEvents, user)).toEqual([true, false]);
    stop?.();
    stopOther();
  });

  it("answers presence for 200 users, with duplicates, in the order asked", async () => {
    const store = openStore();
    const users = Array.from({ length: 200 }, (_, i) => fresh(`many-${i}`));
    await Promise.all(users.filter((_, i) => i % 2 === 0).map((u) => store.heartbeat(u, "c1", 60_000)));
    const asked = [...users, users[0] as string];
    const records = await store.getPresence(asked);
    expect(records.map((r) => r.userId)).toEqual(asked);
    expect(records.map((r) => r.online)).toEqual(asked.map((_, i) => i % 2 === 0));
  });

  it("works on an ioredis client of the caller's, and leaves it open on close", async () => {
    const client = new Redis(REDIS_URL);
    try {
      const store = createRedisPresenceStore({ client, keyPrefix: prefix });
      const other = openStore();
      const user = fresh("own-client");
      const events: PresenceRecord[] = [];
      store.watch([user], (e) => events.push(e));
      await store.getPresence([user]);
      await other.heartbeat(user, "c1", 60_000);
      await waitFor(() => events.length >= 1, 10_000, "online event");
      await store.close();
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("rejects after close with SHUTTING_DOWN, and watch/subscribe throw", async () => {
    const store = openStore();
    await store.close();
    const err = await store.heartbeat("u", "c", 1000).catch((e: unknown) => e);
    expect(reasonOf(err)).toBe(ErrorReason.SHUTTING_DOWN);
    expect(() => store.watch(["u"], () => {})).toThrow(/closed/);
    expect(() => store.subscribe("u", () => {})).toThrow(/closed/);
  });

  it("fails with DEPENDENCY_UNAVAILABLE in bounded time when Redis cannot be reached", async () => {
    const port = await freePort();
    const store = openStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 1000 });
    const stopWatch = store.watch(["u"], () => {});
    const stopSubscribe = store.subscribe("u", () => {});
    const started = Date.now();
    await expectUnavailable(store.heartbeat("u", "c1", 1000));
    await expectUnavailable(store.getPresence(["u"]));
    await expectUnavailable(store.publish("u", Uint8Array.of(1)));
    await expectUnavailable(store.hit("k", 1, 1000));
    // Bounded by commandTimeoutMs per call, not by a queue waiting for Redis forever.
    expect(Date.now() - started).toBeLessThan(4 * 2 * 1_000 + 2_000);
    stopWatch();
    stopSubscribe();
  });
});

describe("createRedisPresenceStore across a Redis restart", () => {
  let redis: PrivateRedis | undefined;
  const stores: PresenceStore[] = [];

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    redis?.dispose();
    redis = undefined;
  });

  it("fails fast while Redis is down and works again, watches and subscriptions included, once it is back", async () => {
    redis = await startPrivateRedis();
    const url = redis.url;
    const a = createRedisPresenceStore({ url, sweepIntervalMs: 100, commandTimeoutMs: 1000 });
    const b = createRedisPresenceStore({ url, sweepIntervalMs: 100, commandTimeoutMs: 1000 });
    stores.push(a, b);
    const before = fresh("before");
    const after = fresh("after");
    const events: PresenceRecord[] = [];
    const payloads: number[][] = [];
    b.watch([before, after], (e) => events.push(e));
    b.subscribe(after, (p) => payloads.push([...p]));
    await b.getPresence([before]); // B's watch and subscription are in place
    await a.heartbeat(before, "c1", 60_000);
    await waitFor(() => online(events, before).length >= 1, 10_000, "online event before the restart");

    redis.stop();
    await expectUnavailable(a.heartbeat(after, "c1", 60_000));

    redis.start();
    // The store reconnects by itself; Redis lost its scripts and data.
    await waitFor(
      () => a.heartbeat(after, "c1", 60_000).then(() => true),
      15_000,
      "a heartbeat after the restart",
    );
    await waitFor(() => online(events, after).length >= 1, 15_000, "watch events after the restart");
    // What the watcher last heard (before online) was lost with Redis's data: it is told.
    await waitFor(() => online(events, before).length >= 2, 15_000, "offline event for the lost state");
    expect(online(events, before)).toEqual([true, false]);
    expect(online(events, after)).toEqual([true]);
    expect(await b.getPresence([before, after])).toMatchObject([
      { userId: before, online: false },
      { userId: after, online: true },
    ]);

    await waitFor(
      async () => {
        await a.publish(after, Uint8Array.of(5));
        return payloads.length > 0;
      },
      15_000,
      "a payload after the restart",
    );
    expect(payloads[0]).toEqual([5]);
    expect(await a.hit(fresh("rate"), 1, 1000)).toBe(true);
  });
});

describe("createRedisRoutingMap", () => {
  const routesPrefix = uniquePrefix("routes");
  const maps: RoutingMap[] = [];
  /** A map as one gateway has it; `keyPrefix` sets apart a test that reads every lease. */
  const open = (keyPrefix = routesPrefix) => {
    const map = createRedisRoutingMap({ url: REDIS_URL, keyPrefix });
    maps.push(map);
    return map;
  };

  afterEach(async () => {
    for (const map of maps.splice(0)) await map.close();
  });
  afterAll(() => deleteKeys(REDIS_URL, routesPrefix));

  it("leases partitions: claim, conflicting claim refused, renewal, release, expiry frees it", async () => {
    const gatewayA = open();
    const gatewayB = open();
    expect(await gatewayA.claim(0, "gw-a", 60_000)).toBe(true);
    expect(await gatewayA.claim(1, "gw-a", 400)).toBe(true);
    expect(await gatewayB.claim(1, "gw-b", 60_000)).toBe(false);
    expect(await gatewayB.claim(2, "gw-b", 60_000)).toBe(true);
    expect(await gatewayB.owner(1)).toBe("gw-a");
    expect(await gatewayA.owner(7)).toBeUndefined();
    expect(await gatewayB.owners()).toEqual(
      new Map([
        [0, "gw-a"],
        [1, "gw-a"],
        [2, "gw-b"],
      ]),
    );
    // Renewal (a heartbeat) keeps the lease.
    expect(await gatewayA.claim(0, "gw-a", 60_000)).toBe(true);
    // Only the holder releases.
    expect(await gatewayB.release(0, "gw-b")).toBe(false);
    expect(await gatewayA.release(0, "gw-a")).toBe(true);
    expect(await gatewayB.owner(0)).toBeUndefined();

    // gw-a stops renewing partition 1 (it died): the lease runs out and gw-b may take it.
    await waitFor(async () => (await gatewayB.owner(1)) === undefined, 10_000, "the lease to run out");
    expect(await gatewayB.claim(1, "gw-b", 60_000)).toBe(true);
    expect(await gatewayA.claim(1, "gw-a", 60_000)).toBe(false);
    expect(await gatewayA.release(1, "gw-a")).toBe(false);
    expect(await gatewayA.owners()).toEqual(
      new Map([
        [1, "gw-b"],
        [2, "gw-b"],
      ]),
    );
  });

  it("lets a forced claim take a live lease over; the previous holder's renewal then fails", async () => {
    const own = `${routesPrefix}force:`;
    const dead = open(own);
    const assigned = open(own);
    const partition = 5;
    expect(await dead.claim(partition, "gw-dead", 60_000)).toBe(true);
    // Kafka assigned the partition to gw-new: it does not wait the 60 s out.
    expect(await assigned.claim(partition, "gw-new", 60_000)).toBe(false);
    expect(await assigned.claim(partition, "gw-new", 60_000, { force: false })).toBe(false);
    expect(await assigned.owner(partition)).toBe("gw-dead");
    expect(await assigned.claim(partition, "gw-new", 60_000, { force: true })).toBe(true);
    expect(await dead.owner(partition)).toBe("gw-new");
    // The old holder, if it was only slow, learns on its next heartbeat that it lost the partition.
    expect(await dead.claim(partition, "gw-dead", 60_000)).toBe(false);
    expect(await dead.release(partition, "gw-dead")).toBe(false);
    expect(await assigned.owner(partition)).toBe("gw-new");
    // A forced claim renews one's own lease like any other, and works on a free partition.
    expect(await assigned.claim(partition, "gw-new", 60_000, { force: true })).toBe(true);
    expect(await assigned.claim(6, "gw-new", 60_000, { force: true })).toBe(true);
    expect(await dead.owners()).toEqual(
      new Map([
        [5, "gw-new"],
        [6, "gw-new"],
      ]),
    );
  });

  it("announces gateway endpoints to other processes, renews them, and forgets them when the lease runs out", async () => {
    const gatewayA = open();
    const gatewayB = open();
    const reader = open();
    expect(await reader.endpoint("gw-never")).toBeUndefined();

    await gatewayA.announce("gw-a", "http://10.0.0.1:8080", 60_000);
    await gatewayB.announce("gw-b", "https://gw-b.example.com/parley", 400);
    expect(await reader.endpoint("gw-a")).toBe("http://10.0.0.1:8080");
    expect(await reader.endpoint("gw-b")).toBe("https://gw-b.example.com/parley");

    // A heartbeat renews it, and a restarted gateway may come back elsewhere.
    await gatewayA.announce("gw-a", "http://10.0.0.2:8080", 60_000);
    expect(await reader.endpoint("gw-a")).toBe("http://10.0.0.2:8080");

    // gw-b died: no more announcements, and its endpoint goes away.
    await waitFor(async () => (await reader.endpoint("gw-b")) === undefined, 10_000, "the lease to run out");
    expect(await reader.endpoint("gw-a")).toBe("http://10.0.0.2:8080");
  });

  it("refuses bad arguments and fails with DEPENDENCY_UNAVAILABLE when Redis cannot be reached", async () => {
    const map = createRedisRoutingMap({
      url: `redis://127.0.0.1:${await freePort()}`,
      commandTimeoutMs: 1000,
    });
    maps.push(map);
    await expect(map.claim(-1, "gw", 1000)).rejects.toThrow(RangeError);
    await expect(map.claim(0, "gw", 0)).rejects.toThrow(RangeError);
    await expect(map.claim(0, "", 1000, { force: true })).rejects.toThrow(RangeError);
    for (const url of ["", "not a url", "ftp://host/", "/relative"]) {
      await expect(map.announce("gw", url, 1000)).rejects.toThrow(RangeError);
    }
    await expect(map.announce("", "http://host", 1000)).rejects.toThrow(RangeError);
    await expect(map.announce("gw", "http://host", 0)).rejects.toThrow(RangeError);
    await expect(map.announce("gw", "http://host", Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError);
    await expect(map.endpoint("")).rejects.toThrow(RangeError);
    await expectUnavailable(map.claim(0, "gw", 1000));
    await expectUnavailable(map.claim(0, "gw", 1000, { force: true }));
    await expectUnavailable(map.owners());
    await expectUnavailable(map.announce("gw", "http://host", 1000));
    await expectUnavailable(map.endpoint("gw"));
  });
});
