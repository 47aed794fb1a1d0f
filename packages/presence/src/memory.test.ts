import { afterEach, describe, expect, it, vi } from "vitest";
import { describePresenceStore } from "../../testkit/src/presence-store.js";
import { createMemoryPresenceStore } from "./index.js";
import type { PresenceRecord, PresenceStore } from "./port.js";

describePresenceStore("memory", async () => {
  // Quiet: the suite has listeners that throw on purpose.
  const store = createMemoryPresenceStore({ sweepIntervalMs: 50, onListenerError: () => {} });
  return { store, cleanup: () => store.close() };
});

describe("createMemoryPresenceStore", () => {
  let clock = 1_000_000;
  const now = () => clock;
  const stores: PresenceStore[] = [];
  const open = (options: Parameters<typeof createMemoryPresenceStore>[0] = {}) => {
    const store = createMemoryPresenceStore({ now, sweepIntervalMs: 60_000, ...options });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    clock = 1_000_000;
  });

  it("computes presence from TTLs exactly, without waiting for a sweep", async () => {
    const store = open();
    await store.heartbeat("u", "c1", 1000);
    clock += 999;
    expect(await store.getPresence(["u"])).toEqual([{ userId: "u", online: true, lastSeenMs: 1_000_000 }]);
    clock += 1;
    expect(await store.getPresence(["u"])).toEqual([{ userId: "u", online: false, lastSeenMs: 1_001_000 }]);
  });

  it("sets lastSeen to the last heartbeat while online and to the end of the last connection after", async () => {
    const store = open();
    await store.heartbeat("u", "c1", 1000);
    clock += 300;
    await store.heartbeat("u", "c2", 5000);
    expect((await store.getPresence(["u"]))[0]?.lastSeenMs).toBe(1_000_300);
    clock += 200;
    await store.disconnect("u", "c2");
    // c1 is still live (until 1_001_000); lastSeen moves to the disconnect.
    expect(await store.getPresence(["u"])).toEqual([{ userId: "u", online: true, lastSeenMs: 1_000_500 }]);
    clock += 10_000;
    // c1 expired at 1_001_000: that is when the user was last online.
    expect(await store.getPresence(["u"])).toEqual([{ userId: "u", online: false, lastSeenMs: 1_001_000 }]);
    await store.disconnect("u", "c1");
    expect(await store.getPresence(["u"])).toEqual([{ userId: "u", online: false, lastSeenMs: 1_001_000 }]);
  });

  it("sweeps expired connections and tells watchers, with lastSeen at the expiry", async () => {
    const store = open({ sweepIntervalMs: 10 });
    const events: PresenceRecord[] = [];
    store.watch(["u"], (p) => events.push(p));
    await store.heartbeat("u", "c1", 100);
    expect(events).toEqual([{ userId: "u", online: true, lastSeenMs: 1_000_000 }]);
    clock += 5_000;
    await vi.waitFor(() => expect(events).toHaveLength(2), { timeout: 5_000 });
    expect(events[1]).toEqual({ userId: "u", online: false, lastSeenMs: 1_000_100 });
  });

  it("reports online again after a heartbeat on an expired but unswept user", async () => {
    const store = open();
    const events: boolean[] = [];
    store.watch(["u"], (p) => events.push(p.online));
    await store.heartbeat("u", "c1", 100);
    clock += 200;
    await store.heartbeat("u", "c1", 100);
    expect(events).toEqual([true, false, true]);
  });

  it("counts hits in a window that starts at the first hit", async () => {
    const store = open();
    expect(await store.hit("k", 2, 1000)).toBe(true);
    clock += 500;
    expect(await store.hit("k", 2, 1000)).toBe(true);
    expect(await store.hit("k", 2, 1000)).toBe(false);
    clock += 499;
    expect(await store.hit("k", 2, 1000)).toBe(false);
    clock += 1;
    expect(await store.hit("k", 2, 1000)).toBe(true);
    expect(await store.hit("k", 0, 1000)).toBe(false);
  });

  it("delivers the payload as given", async () => {
    const store = open();
    const payload = Uint8Array.of(1, 2, 3);
    let received: Uint8Array | undefined;
    store.subscribe("u", (p) => {
      received = p;
    });
    await store.publish("u", payload);
    expect(received).toBe(payload);
  });

  it("reports listener errors to onListenerError and keeps going", async () => {
    const errors: unknown[] = [];
    const store = open({ onListenerError: (error) => errors.push(error) });
    const boom = new Error("boom");
    const received: number[] = [];
    store.subscribe("u", () => {
      throw boom;
    });
    store.subscribe("u", (p) => received.push(p[0] ?? -1));
    await expect(store.publish("u", Uint8Array.of(7))).resolves.toBeUndefined();
    expect(received).toEqual([7]);
    expect(errors).toEqual([boom]);
  });

  it("reports listener errors with console.error by default", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const store = open();
      store.watch(["u"], () => {
        throw new Error("boom");
      });
      await store.heartbeat("u", "c1", 100);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("rejects invalid TTLs and windows", async () => {
    const store = open();
    await expect(store.heartbeat("u", "c1", 0)).rejects.toThrow(RangeError);
    await expect(store.hit("k", 1, -1)).rejects.toThrow(RangeError);
    expect(() => createMemoryPresenceStore({ sweepIntervalMs: 0 })).toThrow(RangeError);
  });

  it("fails every call after close with a clear error", async () => {
    const store = open();
    await store.close();
    await store.close(); // idempotent
    await expect(store.heartbeat("u", "c1", 100)).rejects.toThrow(
      "unable to heartbeat; presence store is closed",
    );
    await expect(store.disconnect("u", "c1")).rejects.toThrow(
      "unable to disconnect; presence store is closed",
    );
    await expect(store.getPresence(["u"])).rejects.toThrow("unable to getPresence; presence store is closed");
    await expect(store.publish("u", Uint8Array.of(1))).rejects.toThrow(
      "unable to publish; presence store is closed",
    );
    await expect(store.hit("k", 1, 100)).rejects.toThrow("unable to hit; presence store is closed");
    expect(() => store.watch(["u"], () => {})).toThrow("unable to watch; presence store is closed");
    expect(() => store.subscribe("u", () => {})).toThrow("unable to subscribe; presence store is closed");
  });

  it("does not keep the process alive", async () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    try {
      const store = open();
      const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      await store.close();
    } finally {
      spy.mockRestore();
    }
  });
});
