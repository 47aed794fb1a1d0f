import { describeParleyService } from "@parley/testkit";
import { beforeEach } from "vitest";
import { type SpawnedCluster, spawnCluster } from "./testing/spawn-cluster.js";

/**
 * The whole-service conformance suite against a cluster of 2 gateways and 2 workers in
 * separate processes, on real Kafka, Cassandra and Redis.
 */
let cluster: SpawnedCluster | undefined;

beforeEach(({ onTestFailed }) => {
  const from = cluster?.output().length ?? 0;
  onTestFailed(() => {
    const log = cluster?.output().slice(from).trim();
    if (log) console.error(`--- cluster output during this test ---\n${log.slice(-8_000)}`);
  });
});

describeParleyService(
  "cluster (2 gateways + 2 workers)",
  async () => {
    cluster = await spawnCluster({ gateways: 2, workers: 2 });
    return cluster;
  },
  { devLogin: true, restart: true },
);
