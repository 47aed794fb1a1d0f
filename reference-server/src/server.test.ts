import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, ErrorReason, parleyDetail } from "@parley/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SpawnedServer, spawnReferenceServer } from "./testing/spawn-server.js";

describe("reference server with dev login disabled", () => {
  let server: SpawnedServer;

  beforeAll(async () => {
    server = await spawnReferenceServer({ env: { PARLEY_DEV_LOGIN: "false" } });
  }, 60_000);

  afterAll(async () => {
    await server?.cleanup();
  });

  it("answers DevLogin with permission_denied DEV_LOGIN_DISABLED", async () => {
    const auth = createClient(
      AuthService,
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
    );
    const err = await auth.devLogin({ userId: "mallory" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(parleyDetail(err)?.reason).toBe(ErrorReason.DEV_LOGIN_DISABLED);
  });

  it("reports ready on /readyz and its live stream count on /healthz", async () => {
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: "ok", streams: 0 });
  });
});
