import { Code } from "@connectrpc/connect";
import { type Conversation, ConversationKind, ErrorReason, LIMITS, MemberRole } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { clientId } from "./clients.js";
import {
  conversationState,
  createDirect,
  createGroup,
  getConversation,
  type SuiteContext,
  send,
  type TestUser,
  unknownIdLike,
} from "./context.js";
import { expectParleyError, tsNanos } from "./helpers.js";

function roles(conv: Conversation | undefined): Record<string, MemberRole> {
  const out: Record<string, MemberRole> = {};
  for (const m of conv?.members ?? []) out[m.userId] = m.role;
  return out;
}

async function listAll(user: TestUser, limit = 0): Promise<Conversation[]> {
  const all: Conversation[] = [];
  let pageToken = "";
  for (let pages = 0; pages < 1000; pages++) {
    const res = await user.clients.conversations.listConversations({ limit, pageToken });
    all.push(...res.conversations);
    if (!res.nextPageToken) return all;
    pageToken = res.nextPageToken;
  }
  throw new Error("ListConversations paging did not end");
}

/** Conversations: direct, groups, membership, roles, listing. */
export function conversationTests(ctx: SuiteContext): void {
  describe("conversations", () => {
    it("CreateDirect makes one DIRECT conversation per pair, whoever asks and however often", async () => {
      const [a, b] = await ctx.users(2, "dir");
      if (!a || !b) throw new Error("users");
      const c1 = await createDirect(a, b);
      expect(c1.kind).toBe(ConversationKind.DIRECT);
      expect(c1.conversationId).not.toBe("");
      expect(roles(c1)).toEqual({ [a.id]: MemberRole.MEMBER, [b.id]: MemberRole.MEMBER });
      const c2 = await createDirect(b, a);
      const c3 = await createDirect(a, b);
      expect(c2.conversationId).toBe(c1.conversationId);
      expect(c3.conversationId).toBe(c1.conversationId);
      for (const u of [a, b]) {
        const list = await listAll(u);
        expect(list.map((c) => c.conversationId)).toEqual([c1.conversationId]);
      }
    });

    it("CreateDirect rejects the caller as peer and malformed peer ids, creating nothing", async () => {
      const a = await ctx.user("dirbad");
      await expectParleyError(
        a.clients.conversations.createDirect({ peerUserId: a.id }),
        Code.InvalidArgument,
        ErrorReason.FIELD_INVALID,
        "peer_user_id",
      );
      for (const bad of ["bad user", "x".repeat(LIMITS.maxUserIdLength + 1), "a/b"]) {
        await expectParleyError(
          a.clients.conversations.createDirect({ peerUserId: bad }),
          Code.InvalidArgument,
          ErrorReason.FIELD_INVALID,
          "peer_user_id",
        );
      }
      expect(await listAll(a)).toEqual([]);
    });

    it("CreateGroup makes the caller OWNER and the others MEMBER, ignoring duplicates and the caller", async () => {
      const [a, b, c] = await ctx.users(3, "grp");
      if (!a || !b || !c) throw new Error("users");
      const res = await a.clients.conversations.createGroup({
        clientId: clientId(),
        title: "Team",
        memberIds: [b.id, b.id, a.id, c.id],
      });
      const g = res.conversation;
      expect(g?.kind).toBe(ConversationKind.GROUP);
      expect(g?.title).toBe("Team");
      expect(g?.createdBy).toBe(a.id);
      expect(g?.lastSeq).toBe(0);
      expect(g?.members).toHaveLength(3);
      expect(roles(g)).toEqual({
        [a.id]: MemberRole.OWNER,
        [b.id]: MemberRole.MEMBER,
        [c.id]: MemberRole.MEMBER,
      });
      const seenByC = await getConversation(c, g?.conversationId ?? "");
      expect(roles(seenByC)).toEqual(roles(g));
    });

    it("CreateGroup is idempotent per client_id", async () => {
      const [a, b] = await ctx.users(2, "grpidem");
      if (!a || !b) throw new Error("users");
      const id = clientId();
      const first = await a.clients.conversations.createGroup({
        clientId: id,
        title: "Once",
        memberIds: [b.id],
      });
      const again = await a.clients.conversations.createGroup({
        clientId: id,
        title: "Once",
        memberIds: [b.id],
      });
      const racing = await Promise.all(
        Array.from({ length: 5 }, () =>
          a.clients.conversations.createGroup({ clientId: id, title: "Once", memberIds: [b.id] }),
        ),
      );
      const cid = first.conversation?.conversationId;
      expect(cid).toBeTruthy();
      expect(again.conversation?.conversationId).toBe(cid);
      for (const r of racing) expect(r.conversation?.conversationId).toBe(cid);
      expect((await listAll(a)).map((c) => c.conversationId)).toEqual([cid]);
      expect((await listAll(b)).map((c) => c.conversationId)).toEqual([cid]);
    });

    it("CreateGroup validates client_id, title and size, creating nothing", async () => {
      const [a, b] = await ctx.users(2, "grpbad");
      if (!a || !b) throw new Error("users");
      const cc = a.clients.conversations;
      await expectParleyError(
        cc.createGroup({ clientId: "", title: "t", memberIds: [b.id] }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "client_id",
      );
      await expectParleyError(
        cc.createGroup({ clientId: clientId(), title: "", memberIds: [b.id] }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "title",
      );
      await expectParleyError(
        cc.createGroup({
          clientId: clientId(),
          title: "t".repeat(LIMITS.maxTitleLength + 1),
          memberIds: [b.id],
        }),
        Code.InvalidArgument,
        ErrorReason.FIELD_INVALID,
        "title",
      );
      const tooMany = Array.from(
        { length: LIMITS.maxGroupMembers + 1 },
        (_, i) => `${b.id.slice(0, 40)}.m${i}`,
      );
      await expectParleyError(
        cc.createGroup({ clientId: clientId(), title: "big", memberIds: tooMany }),
        Code.FailedPrecondition,
        ErrorReason.GROUP_FULL,
      );
      expect(await listAll(a)).toEqual([]);
      expect(await listAll(b)).toEqual([]);
      const ok = await cc.createGroup({
        clientId: clientId(),
        title: "t".repeat(LIMITS.maxTitleLength),
        memberIds: [b.id],
      });
      expect(ok.conversation?.title).toBe("t".repeat(LIMITS.maxTitleLength));
    });

    it("AddMembers: owner adds (existing ignored); others get NOT_ADMIN; direct and full groups refuse", async () => {
      const [a, b, c, d] = await ctx.users(4, "add");
      if (!a || !b || !c || !d) throw new Error("users");
      const g = await createGroup(a, [b]);
      const gid = g.conversationId;
      const before = await conversationState(a, gid);
      await expectParleyError(
        b.clients.conversations.addMembers({ conversationId: gid, userIds: [c.id] }),
        Code.PermissionDenied,
        ErrorReason.NOT_ADMIN,
      );
      const tooMany = Array.from({ length: LIMITS.maxGroupMembers }, (_, i) => `${c.id.slice(0, 40)}.m${i}`);
      await expectParleyError(
        a.clients.conversations.addMembers({ conversationId: gid, userIds: tooMany }),
        Code.FailedPrecondition,
        ErrorReason.GROUP_FULL,
      );
      expect(await conversationState(a, gid)).toEqual(before);
      await expectParleyError(
        c.clients.conversations.getConversation({ conversationId: gid }),
        Code.PermissionDenied,
        ErrorReason.NOT_A_MEMBER,
      );

      const res = await a.clients.conversations.addMembers({
        conversationId: gid,
        userIds: [b.id, c.id, d.id, c.id],
      });
      expect(roles(res.conversation)).toEqual({
        [a.id]: MemberRole.OWNER,
        [b.id]: MemberRole.MEMBER,
        [c.id]: MemberRole.MEMBER,
        [d.id]: MemberRole.MEMBER,
      });
      expect(roles(await getConversation(c, gid))).toEqual(roles(res.conversation));

      const dm = await createDirect(a, b);
      const dmBefore = await conversationState(a, dm.conversationId);
      await expectParleyError(
        a.clients.conversations.addMembers({ conversationId: dm.conversationId, userIds: [c.id] }),
        Code.FailedPrecondition,
        ErrorReason.DIRECT_CONVERSATION,
      );
      expect(await conversationState(a, dm.conversationId)).toEqual(dmBefore);
    });

    it("RemoveMember: owner removes; others get NOT_ADMIN; the owner cannot be removed; direct refuses", async () => {
      const [a, b, c] = await ctx.users(3, "rm");
      if (!a || !b || !c) throw new Error("users");
      const g = await createGroup(a, [b, c]);
      const gid = g.conversationId;
      const before = await conversationState(a, gid);
      await expectParleyError(
        b.clients.conversations.removeMember({ conversationId: gid, userId: c.id }),
        Code.PermissionDenied,
        ErrorReason.NOT_ADMIN,
      );
      await expectParleyError(
        b.clients.conversations.removeMember({ conversationId: gid, userId: a.id }),
        Code.PermissionDenied,
        ErrorReason.NOT_ADMIN,
      );
      await expectParleyError(
        a.clients.conversations.removeMember({ conversationId: gid, userId: a.id }),
        Code.PermissionDenied,
        ErrorReason.NOT_ADMIN,
      );
      expect(await conversationState(a, gid)).toEqual(before);

      const res = await a.clients.conversations.removeMember({ conversationId: gid, userId: c.id });
      expect(roles(res.conversation)).toEqual({ [a.id]: MemberRole.OWNER, [b.id]: MemberRole.MEMBER });
      await expectParleyError(
        c.clients.conversations.getConversation({ conversationId: gid }),
        Code.PermissionDenied,
        ErrorReason.NOT_A_MEMBER,
      );
      expect((await listAll(c)).map((x) => x.conversationId)).not.toContain(gid);

      const dm = await createDirect(a, b);
      const dmBefore = await conversationState(a, dm.conversationId);
      await expectParleyError(
        a.clients.conversations.removeMember({ conversationId: dm.conversationId, userId: b.id }),
        Code.FailedPrecondition,
        ErrorReason.DIRECT_CONVERSATION,
      );
      expect(await conversationState(a, dm.conversationId)).toEqual(dmBefore);
    });

    it("Rename: owner renames; others get NOT_ADMIN; title validated; direct refuses", async () => {
      const [a, b] = await ctx.users(2, "ren");
      if (!a || !b) throw new Error("users");
      const g = await createGroup(a, [b], "Old");
      const gid = g.conversationId;
      const before = await conversationState(a, gid);
      await expectParleyError(
        b.clients.conversations.rename({ conversationId: gid, title: "Mine" }),
        Code.PermissionDenied,
        ErrorReason.NOT_ADMIN,
      );
      await expectParleyError(
        a.clients.conversations.rename({ conversationId: gid, title: "" }),
        Code.InvalidArgument,
        ErrorReason.FIELD_REQUIRED,
        "title",
      );
      await expectParleyError(
        a.clients.conversations.rename({ conversationId: gid, title: "x".repeat(LIMITS.maxTitleLength + 1) }),
        Code.InvalidArgument,
        ErrorReason.FIELD_INVALID,
        "title",
      );
      expect(await conversationState(a, gid)).toEqual(before);

      const res = await a.clients.conversations.rename({ conversationId: gid, title: "New" });
      expect(res.conversation?.title).toBe("New");
      expect((await getConversation(b, gid)).title).toBe("New");

      const dm = await createDirect(a, b);
      await expectParleyError(
        a.clients.conversations.rename({ conversationId: dm.conversationId, title: "x" }),
        Code.FailedPrecondition,
        ErrorReason.DIRECT_CONVERSATION,
      );
      expect((await getConversation(a, dm.conversationId)).title).toBe("");
    });

    it("Leave: a member leaves and loses access; an owner leaving hands ownership to the next member by join order", async () => {
      const [a, b, c, d] = await ctx.users(4, "leave");
      if (!a || !b || !c || !d) throw new Error("users");
      const g = await createGroup(a, [b]);
      const gid = g.conversationId;
      await a.clients.conversations.addMembers({ conversationId: gid, userIds: [c.id] });
      await a.clients.conversations.addMembers({ conversationId: gid, userIds: [d.id] });

      await d.clients.conversations.leave({ conversationId: gid });
      await expectParleyError(
        d.clients.conversations.getConversation({ conversationId: gid }),
        Code.PermissionDenied,
        ErrorReason.NOT_A_MEMBER,
      );
      await expectParleyError(send(d, gid, "still here?"), Code.PermissionDenied, ErrorReason.NOT_A_MEMBER);
      expect((await listAll(d)).map((x) => x.conversationId)).not.toContain(gid);

      await a.clients.conversations.leave({ conversationId: gid });
      await expectParleyError(
        a.clients.conversations.getConversation({ conversationId: gid }),
        Code.PermissionDenied,
        ErrorReason.NOT_A_MEMBER,
      );
      expect(roles(await getConversation(c, gid))).toEqual({
        [b.id]: MemberRole.OWNER,
        [c.id]: MemberRole.MEMBER,
      });
      // The new owner can administer.
      await b.clients.conversations.rename({ conversationId: gid, title: "B's now" });
      expect(await fullHistoryLength(c, gid)).toBe(0);
    });

    it("an unknown conversation id is CONVERSATION_NOT_FOUND", async () => {
      const [a, b] = await ctx.users(2, "unk");
      if (!a || !b) throw new Error("users");
      const real = await createGroup(a, [b]);
      const conversationId = unknownIdLike(real.conversationId);
      expect(conversationId).not.toBe(real.conversationId);
      const nf = (p: Promise<unknown>) =>
        expectParleyError(p, Code.NotFound, ErrorReason.CONVERSATION_NOT_FOUND);
      await nf(a.clients.conversations.getConversation({ conversationId }));
      await nf(a.clients.messages.sendMessage({ conversationId, clientMsgId: clientId(), text: "x" }));
      await nf(a.clients.messages.getHistory({ conversationId }));
      await nf(a.clients.messages.markRead({ conversationId, seq: 1 }));
      await nf(a.clients.messages.markDelivered({ conversationId, seq: 1 }));
      await nf(a.clients.messages.editMessage({ conversationId, seq: 1, clientId: clientId(), text: "x" }));
      await nf(a.clients.messages.deleteMessage({ conversationId, seq: 1, clientId: clientId() }));
      await nf(a.clients.messages.addReaction({ conversationId, seq: 1, clientId: clientId(), emoji: "👍" }));
      await nf(a.clients.conversations.addMembers({ conversationId, userIds: [b.id] }));
      await nf(a.clients.conversations.rename({ conversationId, title: "x" }));
      await nf(a.clients.presence.setTyping({ conversationId, typing: true }));
      expect((await listAll(a)).map((x) => x.conversationId)).toEqual([real.conversationId]);
    });

    it("a non-member gets NOT_A_MEMBER on every conversation-scoped RPC, and nothing changes", async () => {
      const [a, b, x] = await ctx.users(3, "nm");
      if (!a || !b || !x) throw new Error("users");
      const g = await createGroup(a, [b], "Private");
      const conversationId = g.conversationId;
      await send(a, conversationId, "secret");
      const before = await conversationState(a, conversationId);
      const nm = (p: Promise<unknown>) =>
        expectParleyError(p, Code.PermissionDenied, ErrorReason.NOT_A_MEMBER);
      const c = x.clients;
      await nm(c.conversations.getConversation({ conversationId }));
      await nm(c.messages.sendMessage({ conversationId, clientMsgId: clientId(), text: "intruder" }));
      await nm(c.messages.editMessage({ conversationId, seq: 1, clientId: clientId(), text: "hacked" }));
      await nm(c.messages.deleteMessage({ conversationId, seq: 1, clientId: clientId() }));
      await nm(c.messages.addReaction({ conversationId, seq: 1, clientId: clientId(), emoji: "👎" }));
      await nm(c.messages.removeReaction({ conversationId, seq: 1, clientId: clientId(), emoji: "👎" }));
      await nm(c.messages.getHistory({ conversationId }));
      await nm(c.messages.markRead({ conversationId, seq: 1 }));
      await nm(c.messages.markDelivered({ conversationId, seq: 1 }));
      await nm(c.presence.setTyping({ conversationId, typing: true }));
      await nm(c.conversations.addMembers({ conversationId, userIds: [x.id] }));
      await nm(c.conversations.removeMember({ conversationId, userId: b.id }));
      await nm(c.conversations.rename({ conversationId, title: "mine" }));
      expect(await conversationState(a, conversationId)).toEqual(before);
      expect(await listAll(x)).toEqual([]);
    });

    it("ListConversations: newest activity first, with last message, last_seq, my_read_seq, unread_count", async () => {
      const [a, b] = await ctx.users(2, "list");
      if (!a || !b) throw new Error("users");
      const g1 = await createGroup(a, [b], "one");
      const g2 = await createGroup(a, [b], "two");
      const dm = await createDirect(a, b);
      await send(b, g1.conversationId, "first");
      const last = await send(b, g1.conversationId, "second");
      const list = await listAll(a);
      // g1 has the newest activity; the rest are ordered by updated_at (ties in any order).
      expect(list.map((c) => c.conversationId).sort()).toEqual(
        [g1.conversationId, g2.conversationId, dm.conversationId].sort(),
      );
      expect(list[0]?.conversationId).toBe(g1.conversationId);
      for (let i = 1; i < list.length; i++) {
        expect(tsNanos(list[i - 1]?.updatedAt)).toBeGreaterThanOrEqual(tsNanos(list[i]?.updatedAt));
      }
      const top = list[0];
      expect(top?.lastSeq).toBe(2);
      expect(top?.lastMessage?.seq).toBe(2);
      expect(top?.lastMessage?.messageId).toBe(last.messageId);
      expect(top?.lastMessage?.text).toBe("second");
      expect(top?.myReadSeq).toBe(0);
      expect(top?.unreadCount).toBe(2);
      const forB = (await listAll(b)).find((c) => c.conversationId === g1.conversationId);
      expect(forB?.myReadSeq).toBe(2);
      expect(forB?.unreadCount).toBe(0);
      const empty = list.find((c) => c.conversationId === g2.conversationId);
      expect(empty?.lastSeq).toBe(0);
      expect(empty?.lastMessage).toBeUndefined();

      await send(a, g2.conversationId, "bump");
      const again = await listAll(a);
      expect(again[0]?.conversationId).toBe(g2.conversationId);
    });

    it("ListConversations rejects limit > 200 and pages over every conversation exactly once", async () => {
      const [a, b] = await ctx.users(2, "page");
      if (!a || !b) throw new Error("users");
      await expectParleyError(
        a.clients.conversations.listConversations({ limit: LIMITS.maxConversationLimit + 1 }),
        Code.InvalidArgument,
        ErrorReason.LIMIT_OUT_OF_RANGE,
      );
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await createGroup(a, [b], `g${i}`)).conversationId);
      const peers = await ctx.users(3, "pagepeer");
      for (const p of peers) ids.push((await createDirect(a, p)).conversationId);
      const paged = await listAll(a, 3);
      expect(paged.map((c) => c.conversationId).sort()).toEqual([...ids].sort());
      expect(new Set(paged.map((c) => c.conversationId)).size).toBe(ids.length);
      const single = await a.clients.conversations.listConversations({ limit: 200 });
      expect(single.nextPageToken).toBe("");
      expect(single.conversations.map((c) => c.conversationId)).toEqual(paged.map((c) => c.conversationId));
    });
  });
}

async function fullHistoryLength(user: TestUser, conversationId: string): Promise<number> {
  const res = await user.clients.messages.getHistory({ conversationId, limit: 200 });
  return res.messages.length;
}
