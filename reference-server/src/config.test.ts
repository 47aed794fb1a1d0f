import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, SETTINGS } from "./config.js";

const CLUSTER = {
  PARLEY_ROLE: "gateway",
  PARLEY_JWT_SECRET: "s3cret",
  PARLEY_KAFKA_BROKERS: "127.0.0.1:9092, 127.0.0.1:9093",
  PARLEY_CASSANDRA_CONTACT_POINTS: "127.0.0.1:9042",
  PARLEY_CASSANDRA_DATACENTER: "datacenter1",
  PARLEY_REDIS_URL: "redis://127.0.0.1:6379",
};

function configFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), "parley-config-")), "parley.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

describe("loadConfig", () => {
  it("defaults to embedded mode on port 8080 with dev login and no cluster settings", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ role: "embedded", port: 8080, devLogin: true, userEventsMax: 10_000 });
    expect(config.cluster).toBeUndefined();
  });

  it("rejects malformed values with a message naming the variable", () => {
    expect(() => loadConfig({ PARLEY_PORT: "eighty" })).toThrow(ConfigError);
    expect(() => loadConfig({ PARLEY_PORT: "70000" })).toThrow(/PARLEY_PORT/);
    expect(() => loadConfig({ PARLEY_DEV_LOGIN: "maybe" })).toThrow(/PARLEY_DEV_LOGIN/);
    expect(() => loadConfig({ PARLEY_ROLE: "router" })).toThrow(/PARLEY_ROLE must be one of/);
    expect(() => loadConfig({ PARLEY_PUBLIC_URL: "gw-1:8080" })).toThrow(/PARLEY_PUBLIC_URL/);
    expect(() =>
      loadConfig({ PARLEY_JWT_SECRET: "s", PARLEY_JWT_JWKS_URL: "http://127.0.0.1/jwks" }),
    ).toThrow(/not both/);
  });

  it("reads a gateway's cluster settings, with defaults for the rest", () => {
    const config = loadConfig({
      ...CLUSTER,
      PARLEY_PUBLIC_URL: "http://gw-1:8080/",
      PARLEY_PROCESS_ID: "gw-1",
    });
    expect(config.role).toBe("gateway");
    expect(config.devLogin).toBe(false);
    expect(config.publicUrl).toBe("http://gw-1:8080");
    expect(config.cluster).toEqual({
      processId: "gw-1",
      kafka: {
        brokers: ["127.0.0.1:9092", "127.0.0.1:9093"],
        replicationFactor: 1,
        sessionTimeoutMs: 10_000,
      },
      cassandra: {
        contactPoints: ["127.0.0.1:9042"],
        localDataCenter: "datacenter1",
        keyspace: "parley",
        replicationFactor: 1,
      },
      redis: { url: "redis://127.0.0.1:6379", keyPrefix: "parley:" },
      topics: { prefix: "parley.", commandPartitions: 16, inboxPartitions: 16 },
    });
  });

  it("gives each cluster process a distinct id and a gateway a public URL by default", () => {
    const a = loadConfig({ ...CLUSTER, PARLEY_HOST: "10.0.0.7", PARLEY_PORT: "9000" });
    const b = loadConfig(CLUSTER);
    expect(a.cluster?.processId).not.toBe(b.cluster?.processId);
    expect(a.publicUrl).toBe("http://10.0.0.7:9000");
    expect(loadConfig({ ...CLUSTER, PARLEY_ROLE: "worker" }).publicUrl).toBe("");
  });

  it("names what a cluster role is missing", () => {
    expect(() => loadConfig({ PARLEY_ROLE: "worker", PARLEY_JWT_SECRET: "s" })).toThrow(
      /PARLEY_KAFKA_BROKERS, PARLEY_CASSANDRA_CONTACT_POINTS, PARLEY_CASSANDRA_DATACENTER, PARLEY_REDIS_URL/,
    );
    const { PARLEY_JWT_SECRET: _, ...noSecret } = CLUSTER;
    expect(() => loadConfig(noSecret)).toThrow(/needs PARLEY_JWT_SECRET or PARLEY_JWT_JWKS_URL/);
    expect(() => loadConfig({ ...CLUSTER, PARLEY_REDIS_URL: "127.0.0.1:6379" })).toThrow(/PARLEY_REDIS_URL/);
    expect(() => loadConfig({ ...CLUSTER, PARLEY_CASSANDRA_KEYSPACE: "Parley-Prod" })).toThrow(
      /PARLEY_CASSANDRA_KEYSPACE/,
    );
  });

  it("reads a PARLEY_CONFIG file, with the environment winning", () => {
    const path = configFile({
      role: "worker",
      jwtSecret: "from-file",
      kafkaBrokers: ["k1:9092", "k2:9092"],
      cassandraContactPoints: ["c1:9042"],
      cassandraDatacenter: "dc1",
      redisUrl: "redis://r1:6379",
      commandPartitions: 32,
      port: 9100,
    });
    const config = loadConfig({ PARLEY_CONFIG: path, PARLEY_PORT: "9200" });
    expect(config.role).toBe("worker");
    expect(config.port).toBe(9200);
    expect(config.jwt).toMatchObject({ secret: "from-file" });
    expect(config.cluster?.kafka.brokers).toEqual(["k1:9092", "k2:9092"]);
    expect(config.cluster?.topics.commandPartitions).toBe(32);
  });

  it("rejects an unreadable file, unknown keys and values of the wrong type", () => {
    expect(() => loadConfig({ PARLEY_CONFIG: "/nonexistent/parley.json" })).toThrow(/cannot read/);
    expect(() => loadConfig({ PARLEY_CONFIG: configFile("{not json") })).toThrow(/cannot read/);
    expect(() => loadConfig({ PARLEY_CONFIG: configFile([1]) })).toThrow(/JSON object/);
    expect(() => loadConfig({ PARLEY_CONFIG: configFile({ kafkaBroker: "k:9092" }) })).toThrow(
      /unknown key "kafkaBroker"/,
    );
    expect(() => loadConfig({ PARLEY_CONFIG: configFile({ port: { value: 1 } }) })).toThrow(/"port"/);
  });
});

describe("SETTINGS", () => {
  it("names each config-file key after its variable (PARLEY_JWT_SECRET → jwtSecret), as the README says", () => {
    for (const [env, key] of Object.entries(SETTINGS)) {
      const camel = env
        .slice("PARLEY_".length)
        .toLowerCase()
        .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      expect(key, env).toBe(camel);
    }
  });
});
