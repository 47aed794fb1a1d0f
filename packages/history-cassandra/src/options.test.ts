import { describe, expect, it } from "vitest";
import { replicationCql, resolveOptions } from "./options.js";

const base = { keyspace: "parley", contactPoints: ["127.0.0.1:9042"], localDataCenter: "dc1" };

describe("resolveOptions", () => {
  it("fills in the documented defaults", () => {
    expect(resolveOptions(base)).toEqual({
      keyspace: "parley",
      replication: { class: "SimpleStrategy", replicationFactor: 1 },
      migrate: true,
      readConsistency: "LOCAL_QUORUM",
      writeConsistency: "LOCAL_QUORUM",
      messagesPerBucket: 1000,
      userEventsPerBucket: 1000,
      userEventTtlSeconds: 2_592_000,
      maxEventsPerUser: undefined,
      dedupTtlSeconds: 0,
      connectTimeoutMs: 5000,
      requestTimeoutMs: 12_000,
      pageSize: 500,
      concurrency: 32,
      migrationLockTimeoutMs: 60_000,
    });
  });

  it("turns userEventRetention into a TTL in whole seconds and a count limit", () => {
    expect(
      resolveOptions({ ...base, userEventRetention: { maxAgeMs: 1500, maxEventsPerUser: 10 } }),
    ).toMatchObject({
      userEventTtlSeconds: 2,
      maxEventsPerUser: 10,
    });
    expect(resolveOptions({ ...base, userEventRetention: {} })).toMatchObject({
      userEventTtlSeconds: 0,
      maxEventsPerUser: undefined,
    });
  });

  it("rejects keyspace names that are not plain lowercase identifiers", () => {
    for (const keyspace of ["", "Parley", "1parley", "parley-test", "parley;DROP", "a".repeat(49)]) {
      expect(() => resolveOptions({ ...base, keyspace })).toThrow(/keyspace must be/);
    }
    expect(resolveOptions({ ...base, keyspace: "p_1" }).keyspace).toBe("p_1");
  });

  it("needs contact points and a datacenter unless a client is given", () => {
    expect(() => resolveOptions({ keyspace: "parley" })).toThrow(/contactPoints and localDataCenter/);
    expect(() => resolveOptions({ keyspace: "parley", contactPoints: ["h"] })).toThrow(/localDataCenter/);
  });

  it("rejects out-of-range numbers and unknown consistency levels", () => {
    expect(() => resolveOptions({ ...base, messagesPerBucket: 0 })).toThrow(/messagesPerBucket/);
    expect(() => resolveOptions({ ...base, userEventsPerBucket: 1.5 })).toThrow(/userEventsPerBucket/);
    expect(() => resolveOptions({ ...base, userEventRetention: { maxAgeMs: 0 } })).toThrow(/maxAgeMs/);
    expect(() => resolveOptions({ ...base, userEventRetention: { maxEventsPerUser: 0 } })).toThrow(
      /maxEventsPerUser/,
    );
    expect(() => resolveOptions({ ...base, dedupTtlSeconds: 700_000_000 })).toThrow(/dedupTtlSeconds/);
    expect(() => resolveOptions({ ...base, readConsistency: "SERIAL" as never })).toThrow(/readConsistency/);
  });
});

describe("replicationCql", () => {
  it("renders SimpleStrategy and NetworkTopologyStrategy", () => {
    expect(replicationCql({ class: "SimpleStrategy", replicationFactor: 3 })).toBe(
      "{'class': 'SimpleStrategy', 'replication_factor': 3}",
    );
    expect(
      replicationCql({ class: "NetworkTopologyStrategy", dataCenters: { "eu-west": 3, us_east: 2 } }),
    ).toBe("{'class': 'NetworkTopologyStrategy', 'eu-west': 3, 'us_east': 2}");
  });

  it("rejects settings that would not be valid CQL", () => {
    expect(() => replicationCql({ class: "SimpleStrategy", replicationFactor: 0 })).toThrow(
      /replicationFactor/,
    );
    expect(() => replicationCql({ class: "NetworkTopologyStrategy", dataCenters: {} })).toThrow(
      /at least one/,
    );
    expect(() => replicationCql({ class: "NetworkTopologyStrategy", dataCenters: { "dc'1": 3 } })).toThrow(
      /invalid datacenter name/,
    );
  });
});
