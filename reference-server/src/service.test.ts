import { describeParleyService } from "@parley/testkit";
import { beforeEach } from "vitest";
import { type SpawnedServer, spawnReferenceServer } from "./testing/spawn-server.js";

/**
 * The whole-service conformance suite against the embedded reference server,
 * started as a child process on a free port with a fresh data folder.
 */
let server: SpawnedServer | undefined;

beforeEach(({ onTestFailed }) => {
  const from = server?.output().length ?? 0;
  onTestFailed(() => {
    const log = server?.output().slice(from).trim();
    if (log) console.error(`--- parley server output during this test ---\n${log.slice(-8_000)}`);
  });
});

describeParleyService(
  "embedded",
  async () => {
    server = await spawnReferenceServer();
    return server;
  },
  { devLogin: true, restart: true },
);
