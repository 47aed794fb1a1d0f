import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, ErrorReason, parleyDetail } from "@parley/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";
import { type SpawnedServer, spawnReferenceServer } from "./testing/spawn-server.js";

describe("loadConfig", () => {
  it("defaults to embedded mode on port 8080 with dev login", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ role: "embedded", port: 8080, devLogin: true, userEventsMax: 10_000 });
  });

  it("rejects malformed values with a message naming the variable", () => {
    expect(() => loadConfig({ PARLEY_PORT: "eighty" })).toThrow(ConfigError);
    expect(() => loadConfig({ PARLEY_PORT: "70000" })).toThrow(/PARLEY_PORT/);
    expect(() => loadConfig({ PARLEY_DEV_LOGIN: "maybe" })).toThrow(/PARLEY_DEV_LOGIN/);
    expect(() => loadConfig({ PARLEY_ROLE: "gateway" })).toThrow(/PARLEY_ROLE/);
    expect(() =>
      loadConfig({ PARLEY_JWT_SECRET: "s", PARLEY_JWT_JWKS_URL: "http://127.0.0.1/jwks" }),
    ).toThrow(/not both/);
  });
});

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
