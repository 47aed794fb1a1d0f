import { Code } from "@connectrpc/connect";
import { ErrorReason } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import {
  conversationState,
  createGroup,
  getConversation,
  type SuiteContext,
  sendMany,
  type TestUser,
} from "./context.js";
import { expectParleyError } from "./helpers.js";

/** Asserts read_seq <= delivered_seq <= last_seq for every member, as `viewer` sees it. */
async function expectReceiptInvariant(viewer: TestUser, cid: string): Promise<void> {
  const conv = await getConversation(viewer, cid);
  for (const m of conv.members) {
    expect(m.readSeq, `read_seq of ${m.userId}`).toBeLessThanOrEqual(m.deliveredSeq);
    expect(m.deliveredSeq, `delivered_seq of ${m.userId}`).toBeLessThanOrEqual(conv.lastSeq);
  }
  expect(conv.unreadCount).toBe(conv.lastSeq - conv.myReadSeq);
}

/** Receipts: delivered/read watermarks, max() merge, unread counts. */
export function receiptTests(ctx: SuiteContext): void {
  describe("receipts", () => {
    it("watermarks only move forward, read raises delivered, unread = last_seq - read_seq", async () => {
      const [a, b] = await ctx.users(2, "rcpt");
      if (!a || !b) throw new Error("users");
      const cid = (await createGroup(a, [b])).conversationId;
      await sendMany(a, cid, 5, 1);
      const m = b.clients.messages;

      expect(await m.markDelivered({ conversationId: cid, seq: 3 })).toMatchObject({
        deliveredSeq: 3,
        readSeq: 0,
      });
      expect(await m.markRead({ conversationId: cid, seq: 2 })).toMatchObject({
        deliveredSeq: 3,
        readSeq: 2,
        unreadCount: 3,
      });
      expect(await m.markRead({ conversationId: cid, seq: 4 })).toMatchObject({
        deliveredSeq: 4,
        readSeq: 4,
        unreadCount: 1,
      });
      // Lower marks return the current watermarks without error.
      expect(await m.markDelivered({ conversationId: cid, seq: 2 })).toMatchObject({
        deliveredSeq: 4,
        readSeq: 4,
      });
      expect(await m.markRead({ conversationId: cid, seq: 1 })).toMatchObject({
        deliveredSeq: 4,
        readSeq: 4,
        unreadCount: 1,
      });
      // Repeating the same mark with the same client id is harmless.
      const idem = { conversationId: cid, seq: 4, clientId: "read-4" };
      expect(await m.markRead(idem)).toMatchObject({ readSeq: 4, unreadCount: 1 });
      expect(await m.markRead(idem)).toMatchObject({ readSeq: 4, unreadCount: 1 });

      const forB = await getConversation(b, cid);
      expect(forB).toMatchObject({ lastSeq: 5, myReadSeq: 4, unreadCount: 1 });
      const listed = (await b.clients.conversations.listConversations({})).conversations.find(
        (c) => c.conversationId === cid,
      );
      expect(listed).toMatchObject({ lastSeq: 5, myReadSeq: 4, unreadCount: 1 });
      const seenByA = (await getConversation(a, cid)).members.find((x) => x.userId === b.id);
      expect(seenByA).toMatchObject({ deliveredSeq: 4, readSeq: 4 });
      await expectReceiptInvariant(a, cid);
      await expectReceiptInvariant(b, cid);
    });

    it("bad seqs are rejected (0: FIELD_REQUIRED, > last_seq: SEQ_OUT_OF_RANGE) and change nothing", async () => {
      const [a, b] = await ctx.users(2, "rcptbad");
      if (!a || !b) throw new Error("users");
      const cid = (await createGroup(a, [b])).conversationId;
      await sendMany(a, cid, 3, 1);
      await b.clients.messages.markDelivered({ conversationId: cid, seq: 1 });
      const before = await conversationState(b, cid);
      const m = b.clients.messages;
      await expectParleyError(
        m.markRead({ conversationId: cid, seq: 0 }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "seq",
      );
      await expectParleyError(
        m.markDelivered({ conversationId: cid, seq: 0 }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "seq",
      );
      await expectParleyError(
        m.markRead({ conversationId: cid, seq: 4 }),
        Code.InvalidArgument,
        ErrorReason.SEQ_OUT_OF_RANGE,
      );
      await expectParleyError(
        m.markDelivered({ conversationId: cid, seq: 1000 }),
        Code.InvalidArgument,
        ErrorReason.SEQ_OUT_OF_RANGE,
      );
      expect(await conversationState(b, cid)).toEqual(before);
      await expectReceiptInvariant(a, cid);
    });

    it("marks sent concurrently in any order merge with max()", async () => {
      const [a, b] = await ctx.users(2, "rcptmax");
      if (!a || !b) throw new Error("users");
      const cid = (await createGroup(a, [b])).conversationId;
      await sendMany(a, cid, 20, 4);
      const seqs = Array.from({ length: 20 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      await Promise.all(
        seqs.flatMap((seq) => [
          b.clients.messages.markDelivered({ conversationId: cid, seq }),
          seq <= 15 ? b.clients.messages.markRead({ conversationId: cid, seq }) : Promise.resolve(),
        ]),
      );
      const me = (await getConversation(a, cid)).members.find((x) => x.userId === b.id);
      expect(me).toMatchObject({ deliveredSeq: 20, readSeq: 15 });
      expect(await getConversation(b, cid)).toMatchObject({ myReadSeq: 15, unreadCount: 5 });
      await expectReceiptInvariant(a, cid);
      await expectReceiptInvariant(b, cid);
    });
  });
}
