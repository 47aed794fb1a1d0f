import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";

/**
 * Which parts of Parley this process runs.
 * - `embedded`: everything in one process on SQLite and memory, no outside services.
 * - `gateway`: the Connect API and live device streams; consumes the inbox partitions Kafka
 *   assigns it and stores and pushes those users' events (cluster).
 * - `worker`: consumes the commands partitions Kafka assigns it: dedup, seq, history writes,
 *   fan-out to the inbox topic (cluster). Serves only `/healthz`, `/readyz` and `/metrics`.
 * - `all`: a gateway and a worker in one process, on the cluster services.
 */
export type Role = "embedded" | "gateway" | "worker" | "all";

const ROLES: readonly Role[] = ["embedded", "gateway", "worker", "all"];

/** Where the cluster roles find Kafka, Cassandra and Redis, and how they use them. */
export interface ClusterConfig {
  /** This process's id: its Kafka client id, reply address and (gateways) routing-map name. */
  processId: string;
  kafka: {
    brokers: string[];
    /** Replication factor of the topics Parley creates. */
    replicationFactor: number;
    /** How soon a killed group member's partitions move to the others. */
    sessionTimeoutMs: number;
  };
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    /** SimpleStrategy replication factor used when the keyspace is created. */
    replicationFactor: number;
  };
  redis: {
    url: string;
    /** Prefix of every Redis key and channel. */
    keyPrefix: string;
  };
  topics: {
    /** Prefix of the topic names (`<prefix>commands`, `<prefix>inbox`). */
    prefix: string;
    commandPartitions: number;
    inboxPartitions: number;
  };
}

/** The reference server's configuration, read once at start (see the README's table). */
export interface Config {
  role: Role;
  host: string;
  port: number;
  /** Folder for the SQLite files (embedded). */
  dataDir: string;
  /**
   * URL clients are told to use for this server (discovery, redirects); empty means
   * "the server you asked". Cluster gateways always have one.
   */
  publicUrl: string;
  jwt:
    | { secret: string; issuer: string; audience: string }
    | { jwksUrl: string; issuer: string; audience: string };
  /** DEV ONLY token issuing; on by default in embedded mode only. */
  devLogin: boolean;
  /** Events kept per user stream before older cursors must resync. */
  userEventsMax: number;
  logLevel: string;
  /** How long SIGTERM waits for in-flight requests before closing. */
  shutdownGraceMs: number;
  /** Optional folder of static files (the web chat) served at `/`. */
  staticDir: string;
  /** Present for the `gateway`, `worker` and `all` roles. */
  cluster?: ClusterConfig;
}

/** A configuration problem, reported before anything starts. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Every setting: its environment variable and its key in the `PARLEY_CONFIG` file.
 * The environment wins over the file.
 */
export const SETTINGS = {
  PARLEY_ROLE: "role",
  PARLEY_HOST: "host",
  PARLEY_PORT: "port",
  PARLEY_DATA_DIR: "dataDir",
  PARLEY_PUBLIC_URL: "publicUrl",
  PARLEY_JWT_SECRET: "jwtSecret",
  PARLEY_JWT_JWKS_URL: "jwtJwksUrl",
  PARLEY_JWT_ISSUER: "jwtIssuer",
  PARLEY_JWT_AUDIENCE: "jwtAudience",
  PARLEY_DEV_LOGIN: "devLogin",
  PARLEY_USER_EVENTS_MAX: "userEventsMax",
  PARLEY_LOG_LEVEL: "logLevel",
  PARLEY_SHUTDOWN_GRACE_MS: "shutdownGraceMs",
  PARLEY_STATIC_DIR: "staticDir",
  PARLEY_PROCESS_ID: "processId",
  PARLEY_KAFKA_BROKERS: "kafkaBrokers",
  PARLEY_KAFKA_REPLICATION_FACTOR: "kafkaReplicationFactor",
  PARLEY_KAFKA_SESSION_TIMEOUT_MS: "kafkaSessionTimeoutMs",
  PARLEY_TOPIC_PREFIX: "topicPrefix",
  PARLEY_COMMAND_PARTITIONS: "commandPartitions",
  PARLEY_INBOX_PARTITIONS: "inboxPartitions",
  PARLEY_CASSANDRA_CONTACT_POINTS: "cassandraContactPoints",
  PARLEY_CASSANDRA_DATACENTER: "cassandraDatacenter",
  PARLEY_CASSANDRA_KEYSPACE: "cassandraKeyspace",
  PARLEY_CASSANDRA_REPLICATION_FACTOR: "cassandraReplicationFactor",
  PARLEY_REDIS_URL: "redisUrl",
  PARLEY_REDIS_KEY_PREFIX: "redisKeyPrefix",
} as const;

type Setting = keyof typeof SETTINGS;

/** Reads `PARLEY_CONFIG`: a JSON object whose keys are the file names of {@link SETTINGS}. */
function readConfigFile(path: string): Partial<Record<Setting, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(
      `PARLEY_CONFIG: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`PARLEY_CONFIG: ${path} must hold a JSON object`);
  }
  const byKey = new Map<string, Setting>(
    Object.entries(SETTINGS).map(([env, key]) => [key, env as Setting] as const),
  );
  const out: Partial<Record<Setting, string>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const env = byKey.get(key);
    if (!env) {
      throw new ConfigError(
        `PARLEY_CONFIG: unknown key "${key}" in ${path} (known: ${[...byKey.keys()].join(", ")})`,
      );
    }
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) out[env] = value.join(",");
    else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      out[env] = String(value);
    } else {
      throw new ConfigError(
        `PARLEY_CONFIG: "${key}" in ${path} must be a string, number, boolean or list of strings`,
      );
    }
  }
  return out;
}

/** The dev secret used when none is configured in embedded mode. Never use it in production. */
export const DEV_JWT_SECRET = "parley-dev-secret-change-me";

/**
 * Reads the configuration from environment variables and, when `PARLEY_CONFIG` names
 * one, a JSON file (see the README's table). Throws {@link ConfigError} naming the
 * setting when a value is malformed or a cluster role lacks a service address.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.PARLEY_CONFIG ? readConfigFile(env.PARLEY_CONFIG) : {};
  const get = (name: Setting): string | undefined => {
    const raw = env[name];
    return raw !== undefined && raw !== "" ? raw : file[name];
  };
  const str = (name: Setting, fallback: string) => get(name) ?? fallback;
  const int = (name: Setting, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const bool = (name: Setting, fallback: boolean): boolean => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
  };
  const list = (name: Setting): string[] =>
    (get(name) ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);

  const role = str("PARLEY_ROLE", "embedded") as Role;
  if (!ROLES.includes(role)) {
    throw new ConfigError(`PARLEY_ROLE must be one of ${ROLES.join(", ")}, got "${role}"`);
  }
  const issuer = str("PARLEY_JWT_ISSUER", "parley");
  const audience = str("PARLEY_JWT_AUDIENCE", "parley");
  const jwksUrl = str("PARLEY_JWT_JWKS_URL", "");
  const secret = str("PARLEY_JWT_SECRET", "");
  if (jwksUrl && secret) throw new ConfigError("set PARLEY_JWT_SECRET or PARLEY_JWT_JWKS_URL, not both");
  if (role !== "embedded" && !jwksUrl && !secret) {
    throw new ConfigError(
      `PARLEY_ROLE=${role} needs PARLEY_JWT_SECRET or PARLEY_JWT_JWKS_URL (the built-in dev secret is for embedded mode only)`,
    );
  }
  const devLogin = bool("PARLEY_DEV_LOGIN", role === "embedded");
  if (devLogin && jwksUrl)
    throw new ConfigError("PARLEY_DEV_LOGIN needs PARLEY_JWT_SECRET (it signs dev tokens)");
  const host = str("PARLEY_HOST", "0.0.0.0");
  const port = int("PARLEY_PORT", 8080, 0, 65535);
  let publicUrl = str("PARLEY_PUBLIC_URL", "");
  if (publicUrl && !/^https?:\/\/[^/]+/.test(publicUrl)) {
    throw new ConfigError(`PARLEY_PUBLIC_URL must be an http(s) URL, got ${JSON.stringify(publicUrl)}`);
  }
  publicUrl = publicUrl.replace(/\/+$/, "");

  let cluster: ClusterConfig | undefined;
  if (role !== "embedded") {
    const missing = (
      [
        "PARLEY_KAFKA_BROKERS",
        "PARLEY_CASSANDRA_CONTACT_POINTS",
        "PARLEY_CASSANDRA_DATACENTER",
        "PARLEY_REDIS_URL",
      ] as const
    ).filter((name) => get(name) === undefined);
    if (missing.length > 0) {
      throw new ConfigError(
        `PARLEY_ROLE=${role} needs ${missing.join(", ")} (run \`bash scripts/services.sh env\` for local services)`,
      );
    }
    if (role !== "worker" && !publicUrl) {
      // Other gateways redirect devices here: the address must work from outside.
      publicUrl = `http://${host === "0.0.0.0" || host === "::" ? hostname() : host}:${port}`;
    }
    const keyspace = str("PARLEY_CASSANDRA_KEYSPACE", "parley");
    if (!/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) {
      throw new ConfigError(
        `PARLEY_CASSANDRA_KEYSPACE must be lowercase letters, digits and _, starting with a letter, got "${keyspace}"`,
      );
    }
    const redisUrl = str("PARLEY_REDIS_URL", "");
    if (!/^rediss?:\/\//.test(redisUrl)) {
      throw new ConfigError(`PARLEY_REDIS_URL must be a redis:// or rediss:// URL, got "${redisUrl}"`);
    }
    cluster = {
      processId: str("PARLEY_PROCESS_ID", `${role}-${hostname()}-${randomBytes(3).toString("hex")}`),
      kafka: {
        brokers: list("PARLEY_KAFKA_BROKERS"),
        replicationFactor: int("PARLEY_KAFKA_REPLICATION_FACTOR", 1, 1, 16),
        sessionTimeoutMs: int("PARLEY_KAFKA_SESSION_TIMEOUT_MS", 10_000, 6_000, 300_000),
      },
      cassandra: {
        contactPoints: list("PARLEY_CASSANDRA_CONTACT_POINTS"),
        localDataCenter: str("PARLEY_CASSANDRA_DATACENTER", ""),
        keyspace,
        replicationFactor: int("PARLEY_CASSANDRA_REPLICATION_FACTOR", 1, 1, 16),
      },
      redis: { url: redisUrl, keyPrefix: str("PARLEY_REDIS_KEY_PREFIX", "parley:") },
      topics: {
        prefix: str("PARLEY_TOPIC_PREFIX", "parley."),
        commandPartitions: int("PARLEY_COMMAND_PARTITIONS", 16, 1, 10_000),
        inboxPartitions: int("PARLEY_INBOX_PARTITIONS", 16, 1, 10_000),
      },
    };
  }

  return {
    role,
    host,
    port,
    dataDir: resolve(str("PARLEY_DATA_DIR", ".parley-data")),
    publicUrl,
    jwt: jwksUrl ? { jwksUrl, issuer, audience } : { secret: secret || DEV_JWT_SECRET, issuer, audience },
    devLogin,
    userEventsMax: int("PARLEY_USER_EVENTS_MAX", 10_000, 10, 100_000_000),
    logLevel: str("PARLEY_LOG_LEVEL", "info"),
    shutdownGraceMs: int("PARLEY_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    staticDir: str("PARLEY_STATIC_DIR", ""),
    cluster,
  };
}
