import { randomBytes } from "node:crypto";
import type { ServiceUnderTest } from "@parley/testkit";
import {
  createOutputLog,
  createServerProcess,
  freePort,
  type ServerProcess,
  testEnvironment,
} from "./server-process.js";

/** Options for {@link spawnCluster}. */
export interface SpawnClusterOptions {
  /** Gateway processes. @defaultValue 2 */
  gateways?: number;
  /** Worker processes. @defaultValue 2 */
  workers?: number;
  /** Partitions of the commands and of the inbox topic. @defaultValue 8 */
  partitions?: number;
  /** PARLEY_USER_EVENTS_MAX. @defaultValue 1500 */
  maxEventsPerUser?: number;
  /** Extra or overriding environment variables for every process. */
  env?: Record<string, string>;
  /** How long each process may take to become ready. @defaultValue 90000 */
  startupTimeoutMs?: number;
}

/** One process of a {@link SpawnedCluster}. */
export interface ClusterProcess extends ServerProcess {
  readonly role: "gateway" | "worker";
}

/** A cluster of reference-server processes on the real services, usable with `describeParleyService`. */
export interface SpawnedCluster extends ServiceUnderTest {
  readonly processes: readonly ClusterProcess[];
  readonly gateways: readonly ClusterProcess[];
  readonly workers: readonly ClusterProcess[];
  /** Resolves once every topic partition has an owner again among the running processes. */
  settled(timeoutMs?: number): Promise<void>;
  /** Everything the processes wrote so far (the last ~1 MB), interleaved. */
  output(): string;
  /** The isolating names this run uses (topic prefix, keyspace, Redis key prefix). */
  readonly names: { topicPrefix: string; keyspace: string; redisKeyPrefix: string };
}

const SERVICES = [
  "PARLEY_KAFKA_BROKERS",
  "PARLEY_CASSANDRA_CONTACT_POINTS",
  "PARLEY_CASSANDRA_DATACENTER",
  "PARLEY_REDIS_URL",
] as const;

/** The number a `/metrics` gauge line has for `parley_log_partitions_owned{topic=...}`. */
function ownedPartitions(metrics: string, topic: string): number {
  for (const line of metrics.split("\n")) {
    if (line.startsWith("parley_log_partitions_owned{") && line.includes(`topic="${topic}"`)) {
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return 0;
}

/**
 * Starts a Parley cluster from source: `gateways` gateway processes and `workers` worker
 * processes on the Kafka, Cassandra and Redis named by PARLEY_KAFKA_BROKERS,
 * PARLEY_CASSANDRA_CONTACT_POINTS, PARLEY_CASSANDRA_DATACENTER and PARLEY_REDIS_URL
 * (`eval "$(bash scripts/services.sh env)"`). Each run gets its own topics, keyspace
 * and Redis keys. Resolves once every process answers `/readyz` and every partition of
 * both topics is owned. `baseUrl` is the first gateway's; clients that follow
 * `WRONG_GATEWAY` redirects reach the others.
 */
export async function spawnCluster(options: SpawnClusterOptions = {}): Promise<SpawnedCluster> {
  const missing = SERVICES.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(
      `spawnCluster needs ${missing.join(", ")}: start the services with \`bash scripts/services.sh start all\` and \`eval "$(bash scripts/services.sh env)"\``,
    );
  }
  const id = randomBytes(4).toString("hex");
  const names = {
    topicPrefix: `t${id}.`,
    keyspace: `parley_t${id}`,
    redisKeyPrefix: `parley:t${id}:`,
  };
  const partitions = options.partitions ?? 8;
  const maxEventsPerUser = Number(options.env?.PARLEY_USER_EVENTS_MAX ?? options.maxEventsPerUser ?? 1500);
  const { jwt, env } = testEnvironment(maxEventsPerUser);
  const common: NodeJS.ProcessEnv = {
    ...env,
    PARLEY_TOPIC_PREFIX: names.topicPrefix,
    PARLEY_CASSANDRA_KEYSPACE: names.keyspace,
    PARLEY_REDIS_KEY_PREFIX: names.redisKeyPrefix,
    PARLEY_COMMAND_PARTITIONS: String(partitions),
    PARLEY_INBOX_PARTITIONS: String(partitions),
    PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
    PARLEY_SHUTDOWN_GRACE_MS: "3000",
    ...options.env,
  };
  const output = createOutputLog();
  const make = async (role: "gateway" | "worker", n: number): Promise<ClusterProcess> => {
    const port = await freePort();
    const name = `${role}-${n}`;
    const proc = createServerProcess({
      name,
      port,
      output,
      readyPath: "/readyz",
      startupTimeoutMs: options.startupTimeoutMs ?? 90_000,
      stopTimeoutMs: 15_000,
      env: {
        ...common,
        PARLEY_ROLE: role,
        PARLEY_PORT: String(port),
        PARLEY_PROCESS_ID: `${name}-${id}`,
        PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
      },
    });
    return Object.assign(Object.create(proc) as ClusterProcess, { role });
  };
  const gateways: ClusterProcess[] = [];
  const workers: ClusterProcess[] = [];
  for (let i = 1; i <= (options.gateways ?? 2); i++) gateways.push(await make("gateway", i));
  for (let i = 1; i <= (options.workers ?? 2); i++) workers.push(await make("worker", i));
  const processes = [...gateways, ...workers];

  const owned = async (procs: readonly ClusterProcess[], topic: string) => {
    let total = 0;
    for (const p of procs) {
      if (p.pid === undefined) continue;
      try {
        const res = await fetch(`${p.baseUrl}/metrics`, { signal: AbortSignal.timeout(3_000) });
        total += ownedPartitions(await res.text(), topic);
      } catch {
        // a process that is down owns nothing
      }
    }
    return total;
  };
  const settled = async (timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const inbox = await owned(gateways, `${names.topicPrefix}inbox`);
      const commands = await owned(workers, `${names.topicPrefix}commands`);
      if (inbox === partitions && commands === partitions) return;
      if (Date.now() > deadline) {
        throw new Error(
          `cluster did not settle within ${timeoutMs} ms (inbox partitions owned: ${inbox}/${partitions}, commands: ${commands}/${partitions}):\n${output.text().slice(-20_000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stopAll = (hard: boolean) => Promise.all(processes.map((p) => p.stop(hard)));

  try {
    // The first start migrates the keyspace and creates the topics; start it alone.
    const [first, ...rest] = processes;
    await first?.start();
    await Promise.all(rest.map((p) => p.start()));
    await settled();
  } catch (err) {
    await stopAll(true);
    throw err;
  }

  return {
    baseUrl: gateways[0]?.baseUrl ?? "",
    jwt,
    maxEventsPerUser,
    devLogin: true,
    processes,
    gateways,
    workers,
    names,
    settled,
    output: () => output.text(),
    restart: async ({ hard }) => {
      await stopAll(hard);
      await Promise.all(processes.map((p) => p.start()));
      await settled();
    },
    cleanup: async () => {
      await stopAll(false);
    },
  };
}
