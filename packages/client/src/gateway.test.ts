import type { Transport } from "@connectrpc/connect";
import { createStaticOwnership, type GatewayOwnership, type StaticOwnership } from "@parley/testkit";
import { afterEach, describe, expect, it } from "vitest";
import type { ParleyClient } from "./client.js";
import type { ParleyError } from "./errors.js";
import { createNetworkSwitch, type NetworkSwitch } from "./network-switch.js";
import {
  createHarness,
  type Harness,
  live,
  type TestClient,
  uniqueUser,
  waitFor,
} from "./testing-helpers/harness.js";

const URLS = { a: "memory://gateway-a", b: "memory://gateway-b" };

let h: Harness;
afterEach(async () => {
  await h.close();
});

/** Calls by method name ("Subscribe", "GetEndpoint", ...) per transport label. */
type Calls = Map<string, Map<string, number>>;

function counting(transport: Transport, label: string, calls: Calls): Transport {
  const count = (method: string) => {
    const byMethod = calls.get(label) ?? new Map<string, number>();
    calls.set(label, byMethod);
    byMethod.set(method, (byMethod.get(method) ?? 0) + 1);
  };
  return {
    unary: (method, ...rest) => {
      count(method.name);
      return transport.unary(method, ...rest);
    },
    stream: (method, ...rest) => {
      count(method.name);
      return transport.stream(method, ...rest);
    },
  };
}

/** A cluster of gateways a and b over one pipeline; clients' base transport is a's. */
interface Cluster {
  readonly owners: StaticOwnership;
  readonly calls: Calls;
  /** Between clients and gateway b: cut it to make b unreachable. */
  readonly bNet: NetworkSwitch;
  /** A client whose stream follows redirects (`transportFor` reaches a and b directly). */
  client(userId: string, options?: { discovery?: boolean; follow?: boolean }): TestClient;
  /** How often `label` ("base:<userId>", "a", "b") was called with `method`. */
  count(label: string, method: string): number;
}

async function cluster(ownership?: (gatewayId: string) => GatewayOwnership): Promise<Cluster> {
  const owners = createStaticOwnership({ gateways: URLS, defaultGateway: "a" });
  const view = ownership ?? ((id: string) => owners.view(id));
  h = await createHarness({ gateway: view("a"), gatewayId: "a" });
  const calls: Calls = new Map();
  const a = counting(h.server.transport, "a", calls);
  const bNet = createNetworkSwitch(h.server.addGateway({ gatewayId: "b", gateway: view("b") }));
  const b = counting(bNet.transport, "b", calls);
  const transportFor = (baseUrl: string): Transport => {
    if (baseUrl === URLS.a) return a;
    if (baseUrl === URLS.b) return b;
    throw new Error(`no gateway at ${baseUrl}`);
  };
  return {
    owners,
    calls,
    bNet,
    client(userId, options = {}) {
      return h.client(userId, {
        wrap: (transport) => counting(transport, `base:${userId}`, calls),
        ...(options.follow === false ? {} : { transportFor }),
        discovery: options.discovery,
      });
    },
    count: (label, method) => calls.get(label)?.get(method) ?? 0,
  };
}

/** Seqs of a conversation's confirmed messages in the client's view, in order. */
function seqs(client: ParleyClient, conversationId: string): number[] {
  return client
    .messages(conversationId)
    .filter((m) => m.message.seq > 0)
    .map((m) => m.message.seq);
}

/** The state changes of a client, as "previous>state[:error reason]". */
function recordStates(client: ParleyClient): string[] {
  const states: string[] = [];
  client.on("state", (e) => {
    const error = e.error as ParleyError | undefined;
    states.push(`${e.previous}>${e.state}${error ? `:${error.reason}` : ""}`);
  });
  return states;
}

describe("gateway redirects (cluster mode)", () => {
  it("follows WRONG_GATEWAY to the owner at once, then follows the user's move back with no message lost or shown twice", async () => {
    const c = await cluster();
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    c.owners.assign(a, "b");
    const alice = c.client(a);
    const states = recordStates(alice.client);
    const bob = c.client(b);
    await live(alice.client);
    await live(bob.client);
    // The base gateway refused the stream and named b; the client went there without backing off.
    expect(c.count(`base:${a}`, "Subscribe")).toBe(1);
    expect(c.count("b", "Subscribe")).toBe(1);
    expect(states).toEqual(["idle>connecting", "connecting>live"]);

    const id = (await bob.client.createDirect(a)).conversationId;
    await alice.client.send(id, { text: "from alice on b" });
    await bob.client.send(id, { text: "from bob" });
    await waitFor(() => seqs(alice.client, id).length === 2 && seqs(bob.client, id).length === 2);

    // Both keep sending while alice's stream moves back to a.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      sends.push(bob.client.send(id, { text: `bob ${i}` }));
      sends.push(alice.client.send(id, { text: `alice ${i}` }));
      if (i === 10) c.owners.assign(a, "a");
    }
    await Promise.all(sends);
    const all = Array.from({ length: 42 }, (_, i) => i + 1);
    await waitFor(() => seqs(alice.client, id).length === 42, 10_000, "alice has every message");
    await waitFor(() => seqs(bob.client, id).length === 42, 10_000, "bob has every message");
    await waitFor(() => alice.client.outbox().length === 0, 10_000, "alice's outbox drained");
    expect(seqs(alice.client, id)).toEqual(all);
    expect(seqs(bob.client, id)).toEqual(all);
    const texts = alice.client.messages(id).map((m) => m.message.text);
    expect(new Set(texts).size).toBe(42);
    // b ended alice's stream naming a, and the client followed.
    expect(c.count("a", "Subscribe")).toBe(1);
    expect(alice.client.state).toBe("live");
  });

  it("asks GetEndpoint when no gateway is named and waits out a rebalance, then goes live on the new owner", async () => {
    const c = await cluster();
    const a = uniqueUser("alice");
    c.owners.assign(a, undefined);
    const alice = c.client(a);
    const states = recordStates(alice.client);
    // Discovery answers "no gateway serves you right now" (retryable): the client keeps asking.
    await waitFor(() => c.count(`base:${a}`, "GetEndpoint") >= 2, 5_000, "discovery asked twice");
    expect(alice.client.state).not.toBe("live");
    expect(states).toContain("connecting>offline:DEPENDENCY_UNAVAILABLE");
    c.owners.assign(a, "b");
    await live(alice.client);
    expect(c.count("b", "Subscribe")).toBe(1);
  });

  it("with discovery on, asks GetEndpoint first and subscribes on the owner only", async () => {
    const c = await cluster();
    const a = uniqueUser("alice");
    c.owners.assign(a, "b");
    const alice = c.client(a, { discovery: true });
    await live(alice.client);
    expect(c.count(`base:${a}`, "GetEndpoint")).toBe(1);
    expect(c.count(`base:${a}`, "Subscribe")).toBe(0);
    expect(c.count("b", "Subscribe")).toBe(1);
  });

  it("when the gateway it moved to cannot be reached, starts over from the base transport", async () => {
    const c = await cluster();
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    c.owners.assign(a, "b");
    const alice = c.client(a);
    const bob = c.client(b);
    await live(alice.client);
    await live(bob.client);
    const id = (await bob.client.createDirect(a)).conversationId;
    // b dies; only then does the cluster give alice's partition to a.
    c.bNet.setOnline(false);
    await waitFor(() => alice.client.state !== "live", 5_000, "alice notices");
    await bob.client.send(id, { text: "while b was down" });
    c.owners.assign(a, "a");
    await live(alice.client);
    await waitFor(() => alice.client.messages(id).some((m) => m.message.text === "while b was down"));
    // It went back to the base transport, which now serves alice, instead of retrying b.
    expect(alice.client.state).toBe("live");
    expect(c.count(`base:${a}`, "Subscribe")).toBeGreaterThanOrEqual(2);
  });

  it("backs off on repeated redirects, so two gateways naming each other cannot make a hot loop", async () => {
    // A broken routing map: each gateway says the other one serves everyone.
    const c = await cluster((id) => ({
      owns: () => false,
      endpointFor: async () =>
        id === "a" ? { baseUrl: URLS.b, gatewayId: "b" } : { baseUrl: URLS.a, gatewayId: "a" },
      onChange: () => () => {},
    }));
    const a = uniqueUser("alice");
    const alice = c.client(a);
    const states = recordStates(alice.client);
    // Subscribe calls made when the client first went offline (to back off).
    let before: number[] | undefined;
    alice.client.on("state", ({ state }) => {
      if (state === "offline" && !before) {
        before = [c.count(`base:${a}`, "Subscribe"), c.count("b", "Subscribe"), c.count("a", "Subscribe")];
      }
    });
    await waitFor(() => before, 5_000, "backoff");
    // The first redirect (base → b) was followed at once; b's answer was the second: backoff.
    expect(states[1]).toBe("connecting>offline:WRONG_GATEWAY");
    expect(before).toEqual([1, 1, 0]);
  });

  it("without transportFor, the stream stays on its transport and retries until that gateway serves the user", async () => {
    const c = await cluster();
    const a = uniqueUser("alice");
    c.owners.assign(a, "b");
    const alice = c.client(a, { follow: false });
    await waitFor(() => c.count(`base:${a}`, "Subscribe") >= 3, 5_000, "retries");
    expect(alice.client.state).not.toBe("live");
    c.owners.assign(a, "a");
    await live(alice.client);
    expect(c.count("b", "Subscribe")).toBe(0);
  });
});
