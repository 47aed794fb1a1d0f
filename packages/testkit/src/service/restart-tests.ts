import { ConnectError } from "@connectrpc/connect";
import type { Message } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { clientId } from "./clients.js";
import {
  createGroup,
  expectContiguous,
  fullHistory,
  getConversation,
  type SuiteContext,
  sendMany,
  type TestUser,
} from "./context.js";
import type { EventCollector } from "./helpers.js";
import { expectWellFormedEvents } from "./sync-tests.js";

const SLOW = 120_000;

function createdSeqs(c: EventCollector): number[] {
  return c.events.flatMap((e) =>
    e.payload.case === "messageCreated" ? [e.payload.value.message?.seq ?? -1] : [],
  );
}

function createdClientIds(c: EventCollector): string[] {
  return c.events.flatMap((e) =>
    e.payload.case === "messageCreated" ? [e.payload.value.message?.clientMsgId ?? ""] : [],
  );
}

/** Durability across restarts (only for deployments that can restart). */
export function restartTests(ctx: SuiteContext): void {
  describe("restart", () => {
    const restartOf = (): ((options: { hard: boolean }) => Promise<void>) => {
      const restart = ctx.service.restart;
      if (!restart) throw new Error("the service declared the restart feature but has no restart()");
      return restart;
    };
    it("after a graceful restart all data is there and a device resumes with nothing lost or doubled", {
      timeout: SLOW,
    }, async () => {
      const restart = restartOf();
      let [a, b] = await ctx.users(2, "graceful");
      if (!a || !b) throw new Error("users");
      const dev = await ctx.connect(b, { deviceId: "b-phone" });
      const g = await createGroup(a, [b], "durable");
      const cid = g.conversationId;
      await sendMany(a, cid, 10, 2);
      await b.clients.messages.markRead({ conversationId: cid, seq: 7 });
      // conversation CREATED + 10 messages + 1 receipt; fan-out may lag the acks.
      await dev.waitForEvents(12);
      const cursor = dev.lastCursor;
      await dev.close();
      await sendMany(a, cid, 5, 2); // missed by the device before the restart
      const before = { history: await fullHistory(a, cid), conv: await getConversation(b, cid) };

      await ctx.closeAll();
      await restart({ hard: false });
      a = ctx.reconnect(a);
      b = ctx.reconnect(b);

      expect(await fullHistory(a, cid)).toEqual(before.history);
      expect(await getConversation(b, cid)).toEqual(before.conv);
      await sendMany(a, cid, 5, 2); // after the restart
      const resumed = ctx.subscribe(b, { cursor, deviceId: "b-phone" });
      await resumed.waitForCaughtUp(1, 30_000);
      await resumed.until(() => createdSeqs(resumed).length >= 10, 30_000, "10 message_created events");
      expect(createdSeqs(resumed)).toEqual(Array.from({ length: 10 }, (_, i) => 11 + i));
      expectWellFormedEvents(resumed);
      const history = await fullHistory(b, cid);
      expectContiguous(history);
      expect(history).toHaveLength(20);
    });

    it("kill -9 right after the last ack loses no acked message and doubles nothing", {
      timeout: SLOW,
    }, async () => {
      const restart = restartOf();
      let senders = await ctx.users(4, "kill");
      let reader: TestUser = await ctx.user("killreader");
      const owner = senders[0];
      if (!owner) throw new Error("users");
      const cid = (await createGroup(owner, [...senders.slice(1), reader], "kill -9")).conversationId;
      const dev = await ctx.connect(reader, { deviceId: "reader-1" });
      const cursor = dev.lastCursor;
      await dev.close();

      type Attempt = { sender: number; clientMsgId: string; text: string; acked?: Message; error?: unknown };
      const attempts: Attempt[] = [];
      let onAck: (() => void) | undefined;
      const fire = (count: number) =>
        Array.from({ length: count }, (_, i) => {
          const sender = i % senders.length;
          const user = senders[sender] as TestUser;
          const attempt: Attempt = { sender, clientMsgId: clientId(), text: `k${attempts.length}` };
          attempts.push(attempt);
          return user.clients.messages
            .sendMessage({ conversationId: cid, clientMsgId: attempt.clientMsgId, text: attempt.text })
            .then(
              (res) => {
                attempt.acked = res.message;
                onAck?.();
              },
              (err: unknown) => {
                attempt.error = err;
              },
            );
        });

      // 200 concurrent sends; the moment the last one settles, kill -9.
      await Promise.all(fire(200));
      await restart({ hard: true });
      const firstWaveAcked = attempts.filter((x) => x.acked).length;
      senders = senders.map((u) => ctx.reconnect(u));

      // A second burst is in flight while the process dies (killed at its first ack):
      // those sends may or may not be stored, but never twice.
      const firstAck = new Promise<void>((resolve) => {
        onAck = resolve;
      });
      const inFlight = Promise.all(fire(40));
      await Promise.race([firstAck, inFlight]);
      onAck = undefined;
      await restart({ hard: true });
      await inFlight;

      senders = senders.map((u) => ctx.reconnect(u));
      reader = ctx.reconnect(reader);
      const acked = attempts.filter((x) => x.acked);
      const firstWave = attempts.slice(0, 200);
      expect(
        firstWave.filter((x) => !x.acked).map((x) => String(ConnectError.from(x.error).message)),
        "the first 200 sends all completed before the kill",
      ).toEqual([]);
      expect(firstWaveAcked).toBe(200);

      const history = await fullHistory(reader, cid);
      expectContiguous(history);
      const byClientId = new Map<string, Message[]>();
      for (const m of history) byClientId.set(m.clientMsgId, [...(byClientId.get(m.clientMsgId) ?? []), m]);
      for (const x of acked) {
        const stored = byClientId.get(x.clientMsgId) ?? [];
        expect(stored, `acked ${x.clientMsgId}`).toHaveLength(1);
        expect(stored[0]?.seq).toBe(x.acked?.seq);
        expect(stored[0]?.messageId).toBe(x.acked?.messageId);
      }
      for (const [id, ms] of byClientId) expect(ms, `client_msg_id ${id}`).toHaveLength(1);

      // The reader's device resumes from before the sends and gets every stored message once.
      const resumed = ctx.subscribe(reader, { cursor, deviceId: "reader-1" });
      await resumed.until(
        () => acked.every((x) => createdClientIds(resumed).includes(x.clientMsgId)),
        60_000,
        "every acked message on the resumed device",
      );
      const seqs = createdSeqs(resumed);
      expect(seqs, "strictly increasing seqs, no duplicates").toEqual(
        [...new Set(seqs)].sort((p, q) => p - q),
      );

      // Retrying every send with its client_msg_id yields exactly one message each.
      const retried = await Promise.all(
        attempts.map((x) =>
          (senders[x.sender] as TestUser).clients.messages.sendMessage({
            conversationId: cid,
            clientMsgId: x.clientMsgId,
            text: `${x.text} (retry)`,
          }),
        ),
      );
      for (const [i, r] of retried.entries()) {
        const x = attempts[i];
        if (!x) continue;
        if (x.acked) expect(r.message).toEqual(x.acked);
        // Stored before (acked or not): the original. Not stored yet: the retry's text, or
        // the original when the first attempt was durably queued (e.g. in Kafka) and a
        // worker applied it after the restart; either way the retry answers what is stored.
        if (byClientId.has(x.clientMsgId)) expect(r.message?.text).toBe(x.text);
        else expect([x.text, `${x.text} (retry)`]).toContain(r.message?.text);
      }
      const final = await fullHistory(reader, cid);
      expectContiguous(final);
      const finalByClientId = new Map(final.map((m) => [m.clientMsgId, m]));
      for (const [i, r] of retried.entries()) {
        const id = attempts[i]?.clientMsgId ?? "";
        expect(finalByClientId.get(id)?.text, `stored text of ${id}`).toBe(r.message?.text);
      }
      expect(final).toHaveLength(attempts.length);
      expect(new Set(final.map((m) => m.clientMsgId))).toEqual(new Set(attempts.map((x) => x.clientMsgId)));
      await resumed.until(
        () => createdSeqs(resumed).length >= attempts.length,
        60_000,
        `${attempts.length} message_created events`,
      );
      expect(createdSeqs(resumed)).toEqual(Array.from({ length: attempts.length }, (_, i) => i + 1));
      expectWellFormedEvents(resumed);
    });
  });
}
