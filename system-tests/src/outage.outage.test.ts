/**
 * Dependency failures in cluster mode (issue 4): with Kafka, Cassandra or Redis down,
 * clients get a retryable `unavailable` error and never a false acknowledgement, `/readyz`
 * names the failing dependency, and service returns by itself when the dependency does.
 *
 * These tests stop and start the real services (`scripts/services.sh`), so they run in
 * their own step after every other test (`vitest.outage.config.ts`, one file at a time).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, parleyDetail } from "@parley/protocol";
import { type SpawnedCluster, spawnCluster } from "@parley/reference-server/testing";
import {
  clientId,
  createParleyClients,
  EventCollector,
  mintServiceToken,
  type ParleyClients,
  uniqueUserId,
  waitFor,
} from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SERVICES_SH = fileURLToPath(new URL("../../scripts/services.sh", import.meta.url));

function services(action: "start" | "stop", service: string): void {
  execFileSync("bash", [SERVICES_SH, action, service], { stdio: "inherit", timeout: 300_000 });
}

async function readyz(
  baseUrl: string,
): Promise<{ status: number; body: { checks?: Record<string, string> } }> {
  const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json() };
}

describe.each(["redis", "kafka", "cassandra"] as const)("cluster with %s down", (dependency) => {
  let cluster: SpawnedCluster;
  let alice: ParleyClients;
  let bob: ParleyClients;
  let conversationId: string;

  beforeAll(async () => {
    cluster = await spawnCluster({ gateways: 1, workers: 1, partitions: 2 });
    const a = uniqueUserId("alice");
    const b = uniqueUserId("bob");
    alice = createParleyClients(cluster.baseUrl, `Bearer ${await mintServiceToken(cluster, a)}`);
    bob = createParleyClients(cluster.baseUrl, `Bearer ${await mintServiceToken(cluster, b)}`);
    const created = await alice.conversations.createDirect({ peerUserId: b });
    conversationId = created.conversation?.conversationId ?? "";
  }, 240_000);

  afterAll(async () => {
    services("start", dependency); // whatever happened, leave the service running
    await cluster?.cleanup();
  }, 600_000);

  it("answers unavailable and never acknowledges, then recovers with each message once", async () => {
    const live = new EventCollector(bob);
    await live.waitForCaughtUp(1, 30_000);
    const before = await alice.messages.sendMessage({
      conversationId,
      clientMsgId: clientId(),
      text: "before",
    });
    expect(before.message?.seq).toBe(1);

    services("stop", dependency);

    // /readyz names the dependency on every process.
    for (const p of cluster.processes) {
      const report = await waitFor(
        async () => {
          const r = await readyz(p.baseUrl);
          return r.status === 503 ? r : undefined;
        },
        60_000,
        `${p.name} /readyz turns 503`,
        250,
      );
      expect(report.body.checks?.[dependency], `${p.name} names ${dependency}`).not.toBe("ok");
    }

    // A send while it is down fails with a retryable unavailable error, never an ack.
    const outageId = clientId();
    const attempt = () =>
      alice.messages.sendMessage({ conversationId, clientMsgId: outageId, text: "during" });
    let failure: ConnectError | undefined;
    try {
      const res = await attempt();
      throw new Error(`send was acknowledged with ${dependency} down (seq ${res.message?.seq})`);
    } catch (err) {
      failure = ConnectError.from(err);
    }
    expect(failure.code, failure.message).toBe(Code.Unavailable);
    expect([ErrorReason.DEPENDENCY_UNAVAILABLE, ErrorReason.SHUTTING_DOWN]).toContain(
      parleyDetail(failure)?.reason,
    );

    services("start", dependency);
    for (const p of cluster.processes) {
      await waitFor(
        async () => ((await readyz(p.baseUrl)).status === 200 ? true : undefined),
        180_000,
        `${p.name} ready again`,
        250,
      );
    }

    // The client's retry (same client id) gets one result; a new send works too.
    const retried = await waitFor(
      async () => (await attempt()).message,
      120_000,
      "the retried send is acknowledged",
      250,
    );
    const again = await attempt();
    expect(again.message?.seq).toBe(retried.seq);
    const after = await waitFor(
      async () =>
        (await alice.messages.sendMessage({ conversationId, clientMsgId: clientId(), text: "after" }))
          .message,
      60_000,
      "a new send is acknowledged",
      250,
    );
    expect(after.seq).toBe(retried.seq + 1);

    const history = await alice.messages.getHistory({
      conversationId,
      anchor: { case: "afterSeq", value: 0 },
      limit: 50,
    });
    expect(history.messages.map((m) => m.text)).toEqual(["before", "during", "after"]);
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2, 3]);

    // Bob's device gets each message once, in order: on the stream it had, or (when the
    // outage ended that stream) on a new one resumed from the last cursor it got.
    const resumed = live.ended
      ? new EventCollector(bob, { cursor: live.events.at(-1)?.cursor ?? "" })
      : undefined;
    const texts = await waitFor(
      async () => {
        const events = [...live.events, ...(resumed?.events ?? [])];
        const created = events.flatMap((e) =>
          e.payload.case === "messageCreated" ? [e.payload.value.message?.text ?? ""] : [],
        );
        return created.length >= 3 ? created : undefined;
      },
      60_000,
      "bob's device has all three messages",
      250,
    );
    expect(texts).toEqual(["before", "during", "after"]);
    await live.close();
    await resumed?.close();
  }, 900_000);
});
