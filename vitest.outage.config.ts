import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * Tests that stop and start the real Kafka, Cassandra and Redis (`*.outage.test.ts`).
 * They run after every other test, one file and one test at a time, since the services
 * are shared.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["system-tests/src/**/*.outage.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    fileParallelism: false,
  },
});
