import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * Tests against real Kafka, Cassandra and Redis (`*.integration.test.ts`). They read
 * the services' addresses from PARLEY_KAFKA_BROKERS, PARLEY_CASSANDRA_CONTACT_POINTS,
 * PARLEY_CASSANDRA_DATACENTER and PARLEY_REDIS_URL (`bash scripts/services.sh env`).
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      "packages/*/src/**/*.integration.test.ts",
      "reference-server/src/**/*.integration.test.ts",
      "system-tests/src/**/*.integration.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**"],
  },
});
