import { describe, expect, it } from "vitest";
import { clientStoreCasesFor } from "../testing/index.js";
import { createMemoryClientStore, createMemoryStorage, type MemoryStorage } from "./memory.js";

describe("memory client store: conformance", () => {
  for (const c of clientStoreCasesFor({ sharedHandles: true })) {
    it(c.name, async () => {
      const storage = createMemoryStorage();
      await c.run({ open: async () => createMemoryClientStore({ storage }) });
    });
  }
});

describe("memory client store", () => {
  it("keeps separate storages apart", async () => {
    const first = createMemoryClientStore({ storage: createMemoryStorage() });
    const second = createMemoryClientStore({ storage: createMemoryStorage() });
    await first.write({ cursor: "c1" });
    expect((await second.load()).cursor).toBe("");
  });

  it("gives a store made without a storage one of its own", async () => {
    const first = createMemoryClientStore();
    const second = createMemoryClientStore();
    await first.write({ cursor: "c1" });
    expect((await first.load()).cursor).toBe("c1");
    expect((await second.load()).cursor).toBe("");
  });

  it("refuses a storage it did not make", () => {
    expect(() => createMemoryClientStore({ storage: {} as MemoryStorage })).toThrow(
      /unable to open the memory client store/,
    );
  });

  it("says why a batch or a query is refused", async () => {
    const store = createMemoryClientStore();
    await expect(store.write({ meta: { n: 1 as unknown as string } })).rejects.toThrow(
      'unable to write to the client store; meta "n" is not a string',
    );
    await expect(store.messages("c1", { limit: -1, from: "newest" })).rejects.toThrow(
      "unable to read messages from the client store; limit is -1",
    );
    await store.close();
    await expect(store.load()).rejects.toThrow(
      "unable to load the client store; the memory client store handle is closed",
    );
  });
});
