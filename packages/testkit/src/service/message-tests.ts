import { Code } from "@connectrpc/connect";
import { ErrorReason, LIMITS, type Message } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { clientId } from "./clients.js";
import {
  conversationState,
  createDirect,
  createGroup,
  expectContiguous,
  fullHistory,
  getConversation,
  type SuiteContext,
  send,
} from "./context.js";
import { expectParleyError, tsNanos } from "./helpers.js";

function reactionMap(m: Message | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of m?.reactions ?? []) out[r.emoji] = [...r.userIds].sort();
  return out;
}

/** Messages: send (idempotency, ordering, validation), edit, delete, reactions. */
export function messageTests(ctx: SuiteContext): void {
  describe("messages", () => {
    it("SendMessage returns the stored message with seq 1, 2, 3 … and the caller as sender", async () => {
      const [a, b] = await ctx.users(2, "send");
      if (!a || !b) throw new Error("users");
      const conv = await createDirect(a, b);
      const cid = conv.conversationId;
      const t0 = Date.now();
      const ids = [clientId(), clientId(), clientId()];
      const sent: Message[] = [];
      for (const [i, clientMsgId] of ids.entries()) {
        const sender = i === 1 ? b : a;
        const res = await sender.clients.messages.sendMessage({
          conversationId: cid,
          clientMsgId,
          text: `t${i}`,
        });
        const m = res.message;
        if (!m) throw new Error("no message");
        expect(m.conversationId).toBe(cid);
        expect(m.seq).toBe(i + 1);
        expect(m.messageId).not.toBe("");
        expect(m.senderId).toBe(sender.id);
        expect(m.clientMsgId).toBe(clientMsgId);
        expect(m.text).toBe(`t${i}`);
        expect(m.createdAt).toBeDefined();
        expect(Math.abs(Number(tsNanos(m.createdAt) / 1_000_000n) - t0)).toBeLessThan(60_000);
        expect(m.editedAt).toBeUndefined();
        expect(m.deletedAt).toBeUndefined();
        sent.push(m);
      }
      expect(new Set(sent.map((m) => m.messageId)).size).toBe(3);
      const history = await fullHistory(b, cid);
      expect(history).toEqual(sent);
      expect((await getConversation(b, cid)).lastSeq).toBe(3);
    });

    it("retrying a send with the same client_msg_id returns the original message, once in history", async () => {
      const [a, b] = await ctx.users(2, "retry");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const clientMsgId = clientId();
      const first = await a.clients.messages.sendMessage({
        conversationId: cid,
        clientMsgId,
        text: "original",
      });
      const again = await a.clients.messages.sendMessage({
        conversationId: cid,
        clientMsgId,
        text: "changed",
      });
      expect(again.message).toEqual(first.message);
      const racing = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          a.clients.messages.sendMessage({ conversationId: cid, clientMsgId, text: `race ${i}` }),
        ),
      );
      for (const r of racing) {
        expect(r.message?.seq).toBe(1);
        expect(r.message?.messageId).toBe(first.message?.messageId);
        expect(r.message?.text).toBe("original");
      }
      // A concurrent burst of a brand-new id also lands once.
      const freshId = clientId();
      const burst = await Promise.all(
        Array.from({ length: 8 }, () =>
          a.clients.messages.sendMessage({ conversationId: cid, clientMsgId: freshId, text: "burst" }),
        ),
      );
      expect(new Set(burst.map((r) => r.message?.messageId)).size).toBe(1);
      expect(burst.map((r) => r.message?.seq)).toEqual(Array(8).fill(2));
      const history = await fullHistory(a, cid);
      expectContiguous(history);
      expect(history.map((m) => m.text)).toEqual(["original", "burst"]);
    });

    it("20 concurrent senders get seqs exactly 1..20, and history is in that order", async () => {
      const owner = await ctx.user("conc");
      const others = await ctx.users(19, "conc");
      const g = await createGroup(owner, others);
      const senders = [owner, ...others];
      const sent = await Promise.all(senders.map((u, i) => send(u, g.conversationId, `from ${i}`)));
      expect(sent.map((m) => m.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const history = await fullHistory(owner, g.conversationId);
      expectContiguous(history);
      for (const m of sent) expect(history[m.seq - 1]?.messageId).toBe(m.messageId);

      // The same user sending 20 at once.
      const burst = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send(owner, g.conversationId, `b${i}`)),
      );
      expect(burst.map((m) => m.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 21),
      );
      const after = await fullHistory(others[3] ?? owner, g.conversationId);
      expectContiguous(after);
      expect(after).toHaveLength(40);
    });

    it("SendMessage validation rejects bad input and changes nothing", async () => {
      const [a, b] = await ctx.users(2, "val");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      await send(a, cid, "one");
      const before = await conversationState(a, cid);
      const m = a.clients.messages;
      await expectParleyError(
        m.sendMessage({ conversationId: cid, clientMsgId: clientId(), text: "" }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "text",
      );
      await expectParleyError(
        m.sendMessage({
          conversationId: cid,
          clientMsgId: clientId(),
          text: "x".repeat(LIMITS.maxTextLength + 1),
        }),
        Code.InvalidArgument,
        ErrorReason.TEXT_TOO_LONG,
      );
      await expectParleyError(
        m.sendMessage({
          conversationId: cid,
          clientMsgId: clientId(),
          text: "😀".repeat(LIMITS.maxTextLength + 1),
        }),
        Code.InvalidArgument,
        ErrorReason.TEXT_TOO_LONG,
      );
      await expectParleyError(
        m.sendMessage({ conversationId: cid, clientMsgId: "", text: "x" }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "client_msg_id",
      );
      await expectParleyError(
        m.sendMessage({
          conversationId: cid,
          clientMsgId: "c".repeat(LIMITS.maxClientIdLength + 1),
          text: "x",
        }),
        Code.InvalidArgument,
        ErrorReason.FIELD_INVALID,
      );
      await expectParleyError(
        m.sendMessage({ conversationId: cid, clientMsgId: clientId(), text: "x", replyToSeq: 2 }),
        Code.InvalidArgument,
        ErrorReason.SEQ_OUT_OF_RANGE,
      );
      await expectParleyError(
        m.sendMessage({ conversationId: "", clientMsgId: clientId(), text: "x" }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
      );
      expect(await conversationState(a, cid)).toEqual(before);
      expect(await conversationState(b, cid)).toEqual({
        ...before,
        conversation: { ...before.conversation, myReadSeq: 0, unreadCount: 1 },
      });
    });

    it("text limits count code points: 4,000 characters or emoji are fine", async () => {
      const [a, b] = await ctx.users(2, "len");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const plain = await send(a, cid, "x".repeat(LIMITS.maxTextLength));
      expect(plain.text).toHaveLength(LIMITS.maxTextLength);
      const emoji = "😀".repeat(LIMITS.maxTextLength);
      const e = await send(a, cid, emoji);
      expect(e.text).toBe(emoji);
      expect((await fullHistory(b, cid)).map((m) => m.seq)).toEqual([1, 2]);
    });

    it("a message may have an attachment and no text, and may reply to an earlier seq", async () => {
      const [a, b] = await ctx.users(2, "att");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const first = await send(a, cid, "", {
        attachment: {
          url: "https://example.com/cat.png",
          contentType: "image/png",
          name: "cat.png",
          sizeBytes: 1234n,
        },
      });
      expect(first.text).toBe("");
      expect(first.attachment?.url).toBe("https://example.com/cat.png");
      expect(first.attachment?.sizeBytes).toBe(1234n);
      const reply = await send(b, cid, "nice", { replyToSeq: 1 });
      expect(reply.replyToSeq).toBe(1);
      const history = await fullHistory(a, cid);
      expect(history).toEqual([first, reply]);
    });

    it("sending marks the sender's own read and delivered watermarks, so the sender's unread stays 0", async () => {
      const [a, b, c] = await ctx.users(3, "own");
      if (!a || !b || !c) throw new Error("users");
      const g = await createGroup(a, [b, c]);
      const cid = g.conversationId;
      await send(a, cid, "1");
      await send(a, cid, "2");
      const m3 = await send(b, cid, "3");
      const forB = await getConversation(b, cid);
      expect(forB.myReadSeq).toBe(3);
      expect(forB.unreadCount).toBe(0);
      const bm = forB.members.find((m) => m.userId === b.id);
      expect(bm?.readSeq).toBe(m3.seq);
      expect(bm?.deliveredSeq).toBe(m3.seq);
      const forA = await getConversation(a, cid);
      expect(forA.myReadSeq).toBe(2);
      expect(forA.unreadCount).toBe(1);
      const forC = await getConversation(c, cid);
      expect(forC.myReadSeq).toBe(0);
      expect(forC.unreadCount).toBe(3);
    });

    it("EditMessage: the author edits (idempotently); others, unknown and deleted messages are refused", async () => {
      const [a, b] = await ctx.users(2, "edit");
      if (!a || !b) throw new Error("users");
      const g = await createGroup(a, [b]);
      const cid = g.conversationId;
      const m1 = await send(a, cid, "draft");
      await send(b, cid, "b's");
      const editId = clientId();
      const edited = await a.clients.messages.editMessage({
        conversationId: cid,
        seq: 1,
        clientId: editId,
        text: "final",
      });
      expect(edited.message?.text).toBe("final");
      expect(edited.message?.seq).toBe(1);
      expect(edited.message?.messageId).toBe(m1.messageId);
      expect(edited.message?.editedAt).toBeDefined();
      const retried = await a.clients.messages.editMessage({
        conversationId: cid,
        seq: 1,
        clientId: editId,
        text: "final",
      });
      expect(retried.message).toEqual(edited.message);

      const before = await conversationState(a, cid);
      await expectParleyError(
        b.clients.messages.editMessage({
          conversationId: cid,
          seq: 1,
          clientId: clientId(),
          text: "not yours",
        }),
        Code.PermissionDenied,
        ErrorReason.NOT_AUTHOR,
      );
      await expectParleyError(
        a.clients.messages.editMessage({
          conversationId: cid,
          seq: 2,
          clientId: clientId(),
          text: "not yours",
        }),
        Code.PermissionDenied,
        ErrorReason.NOT_AUTHOR,
      );
      await expectParleyError(
        a.clients.messages.editMessage({ conversationId: cid, seq: 99, clientId: clientId(), text: "ghost" }),
        Code.NotFound,
        ErrorReason.MESSAGE_NOT_FOUND,
      );
      expect(await conversationState(a, cid)).toEqual(before);

      await a.clients.messages.deleteMessage({ conversationId: cid, seq: 1, clientId: clientId() });
      const afterDelete = await conversationState(a, cid);
      await expectParleyError(
        a.clients.messages.editMessage({ conversationId: cid, seq: 1, clientId: clientId(), text: "revive" }),
        Code.FailedPrecondition,
        ErrorReason.MESSAGE_DELETED,
      );
      expect(await conversationState(a, cid)).toEqual(afterDelete);
      expect((await fullHistory(b, cid))[0]?.text).toBe("");
    });

    it("DeleteMessage: the author deletes (text and attachment cleared); repeating returns it unchanged", async () => {
      const [a, b] = await ctx.users(2, "del");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const m = await send(a, cid, "oops", {
        attachment: { url: "https://example.com/x", contentType: "text/plain", name: "x", sizeBytes: 1n },
      });
      const before = await conversationState(a, cid);
      await expectParleyError(
        b.clients.messages.deleteMessage({ conversationId: cid, seq: 1, clientId: clientId() }),
        Code.PermissionDenied,
        ErrorReason.NOT_AUTHOR,
      );
      await expectParleyError(
        a.clients.messages.deleteMessage({ conversationId: cid, seq: 5, clientId: clientId() }),
        Code.NotFound,
        ErrorReason.MESSAGE_NOT_FOUND,
      );
      expect(await conversationState(a, cid)).toEqual(before);

      const deleteId = clientId();
      const del = await a.clients.messages.deleteMessage({ conversationId: cid, seq: 1, clientId: deleteId });
      expect(del.message?.messageId).toBe(m.messageId);
      expect(del.message?.text).toBe("");
      expect(del.message?.attachment).toBeUndefined();
      expect(del.message?.deletedAt).toBeDefined();
      const retry = await a.clients.messages.deleteMessage({
        conversationId: cid,
        seq: 1,
        clientId: deleteId,
      });
      expect(retry.message).toEqual(del.message);
      const again = await a.clients.messages.deleteMessage({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
      });
      expect(again.message).toEqual(del.message);
      const history = await fullHistory(b, cid);
      expect(history).toEqual([del.message]);
    });

    it("reactions: any member reacts; adding twice and removing an absent reaction are no-ops", async () => {
      const [a, b, c] = await ctx.users(3, "react");
      if (!a || !b || !c) throw new Error("users");
      const g = await createGroup(a, [b, c]);
      const cid = g.conversationId;
      await send(a, cid, "react to me");
      const r1 = await b.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      expect(reactionMap(r1.message)).toEqual({ "👍": [b.id] });
      const r2 = await b.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      expect(reactionMap(r2.message)).toEqual({ "👍": [b.id] });
      await c.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      const r3 = await a.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "🎉",
      });
      expect(reactionMap(r3.message)).toEqual({ "👍": [b.id, c.id].sort(), "🎉": [a.id] });
      expect(reactionMap((await fullHistory(c, cid))[0])).toEqual(reactionMap(r3.message));

      const rm = await b.clients.messages.removeReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      expect(reactionMap(rm.message)).toEqual({ "👍": [c.id], "🎉": [a.id] });
      const absent = await b.clients.messages.removeReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "🙈",
      });
      expect(reactionMap(absent.message)).toEqual({ "👍": [c.id], "🎉": [a.id] });
      const last = await c.clients.messages.removeReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      expect(reactionMap(last.message)).toEqual({ "🎉": [a.id] });

      const before = await conversationState(a, cid);
      await expectParleyError(
        b.clients.messages.addReaction({ conversationId: cid, seq: 1, clientId: clientId(), emoji: "" }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
      );
      await expectParleyError(
        b.clients.messages.addReaction({
          conversationId: cid,
          seq: 1,
          clientId: clientId(),
          emoji: "x".repeat(LIMITS.maxEmojiLength + 1),
        }),
        Code.InvalidArgument,
        ErrorReason.FIELD_INVALID,
      );
      expect(await conversationState(a, cid)).toEqual(before);
      const long = await b.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "y".repeat(LIMITS.maxEmojiLength),
      });
      expect(reactionMap(long.message)["y".repeat(LIMITS.maxEmojiLength)]).toEqual([b.id]);
    });
  });
}
