import { Code } from "@connectrpc/connect";
import {
  ConversationUpdateKind,
  ErrorReason,
  type Event,
  MembershipChangeKind,
  MessageUpdateKind,
  parleyDetail,
} from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { clientId } from "./clients.js";
import { createDirect, createGroup, expectContiguous, type SuiteContext, send, sendMany } from "./context.js";
import { type EventCollector, expectParleyError, expectStreamError, waitFor } from "./helpers.js";

const SLOW = 120_000;

/** A compact, comparable description of an event's payload. */
export function eventSignature(e: Event): string {
  const p = e.payload;
  switch (p.case) {
    case "messageCreated":
      return `created:${p.value.message?.seq}`;
    case "messageUpdated":
      return `updated:${MessageUpdateKind[p.value.kind]}:${p.value.message?.seq}:${p.value.actorId}${p.value.emoji ? `:${p.value.emoji}` : ""}`;
    case "receiptUpdated":
      return `receipt:${p.value.userId}:${p.value.deliveredSeq}/${p.value.readSeq}`;
    case "membershipChanged":
      return `membership:${MembershipChangeKind[p.value.kind]}:${[...p.value.userIds].sort().join("+")}:${p.value.actorId}`;
    case "conversationUpdated":
      return `conversation:${ConversationUpdateKind[p.value.kind]}:${p.value.actorId}`;
    default:
      return `unknown:${String(p.case)}`;
  }
}

/** Asserts every event has a cursor and an event id, and ids are unique within the stream. */
export function expectWellFormedEvents(c: EventCollector): void {
  for (const e of c.events) {
    expect(e.cursor, "event cursor").not.toBe("");
    expect(e.eventId, "event id").not.toBe("");
  }
  const ids = c.events.map((e) => e.eventId);
  expect(new Set(ids).size, "event ids are unique").toBe(ids.length);
}

/** Waits until `c` has `expected.length` events and compares their signatures. */
async function expectSignatures(c: EventCollector, expected: string[], timeoutMs = 10_000): Promise<void> {
  try {
    await c.waitForEvents(expected.length, timeoutMs);
  } catch {
    // Fall through to the comparison, which shows what did arrive.
  }
  expect(c.events.map(eventSignature)).toEqual(expected);
  expectWellFormedEvents(c);
}

/** Sync: Subscribe (live, resume, exactly-once, order), events per action, resync and snapshots. */
export function syncTests(ctx: SuiteContext): void {
  describe("sync", () => {
    it("an empty cursor yields a CaughtUp with a cursor first, then live events", async () => {
      const [a, b] = await ctx.users(2, "live");
      if (!a || !b) throw new Error("users");
      const c = ctx.subscribe(b, { deviceId: "dev-1" });
      const caught = await c.waitForCaughtUp();
      expect(c.items[0]?.kind.case).toBe("caughtUp");
      expect(caught.cursor).not.toBe("");
      expect(c.events).toEqual([]);
      const conv = await createDirect(a, b);
      const e = await c.waitForEvent((x) => x.payload.case === "conversationUpdated");
      expect(e.conversationId).toBe(conv.conversationId);
      expect(e.time).toBeDefined();
      const m = await send(a, conv.conversationId, "live!");
      const created = await c.waitForEvent((x) => x.payload.case === "messageCreated");
      expect(created.payload.value).toMatchObject({
        message: { seq: 1, messageId: m.messageId, text: "live!" },
      });
      expectWellFormedEvents(c);
    });

    it("every action yields its event on every member's devices, the actor's own included", async () => {
      const [a, b, c] = await ctx.users(3, "ev");
      if (!a || !b || !c) throw new Error("users");
      const a1 = await ctx.connect(a, { deviceId: "a-1" });
      const a2 = await ctx.connect(a, { deviceId: "a-2" });
      const b1 = await ctx.connect(b, { deviceId: "b-1" });
      const c1 = await ctx.connect(c, { deviceId: "c-1" });

      const g = await createGroup(a, [b], "Events");
      const cid = g.conversationId;
      await send(a, cid, "hello");
      await a.clients.messages.editMessage({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        text: "hello!",
      });
      await b.clients.messages.addReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      await b.clients.messages.removeReaction({
        conversationId: cid,
        seq: 1,
        clientId: clientId(),
        emoji: "👍",
      });
      await b.clients.messages.markRead({ conversationId: cid, seq: 1 });
      await a.clients.conversations.rename({ conversationId: cid, title: "Renamed" });
      await a.clients.conversations.addMembers({ conversationId: cid, userIds: [c.id] });
      await send(c, cid, "hi all");
      await a.clients.conversations.removeMember({ conversationId: cid, userId: c.id });
      await a.clients.messages.deleteMessage({ conversationId: cid, seq: 1, clientId: clientId() });
      await b.clients.conversations.leave({ conversationId: cid });

      const common = [
        `conversation:CREATED:${a.id}`,
        "created:1",
        `updated:EDITED:1:${a.id}`,
        `updated:REACTION_ADDED:1:${b.id}:👍`,
        `updated:REACTION_REMOVED:1:${b.id}:👍`,
        `receipt:${b.id}:1/1`,
        `conversation:RENAMED:${a.id}`,
        `membership:ADDED:${c.id}:${a.id}`,
        "created:2",
        `membership:REMOVED:${c.id}:${a.id}`,
        `updated:DELETED:1:${a.id}`,
        `membership:LEFT:${b.id}:${b.id}`,
      ];
      await expectSignatures(a1, common);
      await expectSignatures(a2, common);
      await expectSignatures(b1, common);
      await expectSignatures(c1, [
        `membership:ADDED:${c.id}:${a.id}`,
        "created:2",
        `membership:REMOVED:${c.id}:${a.id}`,
      ]);
      // The same user's devices see the same events with the same ids.
      expect(a2.events.map((e) => e.eventId)).toEqual(a1.events.map((e) => e.eventId));
      for (const e of [...a1.events, ...b1.events, ...c1.events]) expect(e.conversationId).toBe(cid);

      const payload = (col: EventCollector, i: number) => col.events[i]?.payload;
      const created = payload(a1, 0);
      expect(created?.case === "conversationUpdated" && created.value.conversation?.conversationId).toBe(cid);
      const renamed = payload(b1, 6);
      expect(renamed?.case === "conversationUpdated" && renamed.value.conversation?.title).toBe("Renamed");
      const added = payload(c1, 0);
      expect(added?.case === "membershipChanged" && added.value.conversation?.conversationId).toBe(cid);
      const addedForA = payload(a1, 7);
      expect(addedForA?.case === "membershipChanged" && addedForA.value.conversation?.members.length).toBe(3);
      const removedForC = payload(c1, 2);
      expect(removedForC?.case === "membershipChanged" && removedForC.value.conversation).toBeUndefined();
      const removedForA = payload(a1, 9);
      expect(
        removedForA?.case === "membershipChanged" && removedForA.value.conversation?.members.length,
      ).toBe(2);
      const leftForB = payload(b1, 11);
      expect(leftForB?.case === "membershipChanged" && leftForB.value.conversation).toBeUndefined();
      const deleted = payload(b1, 10);
      expect(deleted?.case === "messageUpdated" && deleted.value.message?.text).toBe("");
      const receipt = payload(a1, 5);
      expect(receipt?.case === "receiptUpdated" && receipt.value).toMatchObject({
        deliveredSeq: 1,
        readSeq: 1,
      });
    });

    it("no event for a repeated CreateDirect or a mark that moves no watermark", async () => {
      const [a, b] = await ctx.users(2, "noev");
      if (!a || !b) throw new Error("users");
      // Streams open first: fan-out may lag the acks, so the setup's events are awaited.
      const ca = await ctx.connect(a);
      const cb = await ctx.connect(b);
      const cid = (await createDirect(a, b)).conversationId;
      await sendMany(a, cid, 3, 1);
      await b.clients.messages.markRead({ conversationId: cid, seq: 2 });
      const setup = [
        `conversation:CREATED:${a.id}`,
        "created:1",
        "created:2",
        "created:3",
        `receipt:${b.id}:2/2`,
      ];
      await expectSignatures(ca, setup);
      await expectSignatures(cb, setup);
      await createDirect(a, b);
      await createDirect(b, a);
      await b.clients.messages.markRead({ conversationId: cid, seq: 1 });
      await b.clients.messages.markDelivered({ conversationId: cid, seq: 2 });
      await b.clients.messages.markRead({ conversationId: cid, seq: 2 });
      // A sentinel: streams are ordered, so anything the calls above emitted arrives before it.
      await send(a, cid, "sentinel");
      await expectSignatures(ca, [...setup, "created:4"]);
      await expectSignatures(cb, [...setup, "created:4"]);
    });

    it("resuming from a cursor delivers every later stored event once, in order, then CaughtUp, then live", async () => {
      const [a, b] = await ctx.users(2, "resume");
      if (!a || !b) throw new Error("users");
      const first = await ctx.connect(b, { deviceId: "b-1" });
      // b's other device stays online. A Send returns once the message is durable, but b's
      // stored events may follow a moment later (in a cluster, fan-out to b's gateway goes
      // through the log); a gateway stores a user's events before pushing them live, so
      // once this device has shown them they are there to resume from.
      const other = await ctx.connect(b, { deviceId: "b-2" });
      const cid = (await createDirect(a, b)).conversationId;
      await first.waitForEvents(1);
      const c0 = first.lastCursor;
      await first.close();

      await sendMany(a, cid, 5, 1);
      await expectSignatures(other, [
        `conversation:CREATED:${a.id}`,
        ...[1, 2, 3, 4, 5].map((n) => `created:${n}`),
      ]);
      const r1 = await ctx.connect(b, { cursor: c0, deviceId: "b-1" });
      expect(r1.eventsBeforeCaughtUp[0]).toBe(5);
      expect(r1.events.map(eventSignature)).toEqual([1, 2, 3, 4, 5].map((s) => `created:${s}`));
      expectWellFormedEvents(r1);
      const caught = r1.caughtUps[0];
      expect(caught?.cursor).not.toBe("");
      await send(a, cid, "live");
      await expectSignatures(
        r1,
        [1, 2, 3, 4, 5, 6].map((s) => `created:${s}`),
      );
      const ids = r1.events.map((e) => e.eventId);
      await r1.close();

      // Resume from the middle: the cursor of event #3 resumes right after it.
      const third = r1.events[2];
      if (!third) throw new Error("no third event");
      const r2 = await ctx.connect(b, { cursor: third.cursor });
      expect(r2.events.map(eventSignature)).toEqual(["created:4", "created:5", "created:6"]);
      expect(r2.events.map((e) => e.eventId)).toEqual(ids.slice(3));
      // Resume from the last cursor: nothing to replay.
      const r3 = await ctx.connect(b, { cursor: r1.lastCursor });
      expect(r3.eventsBeforeCaughtUp[0]).toBe(0);
      // Resume from a CaughtUp cursor.
      const r4 = await ctx.connect(b, { cursor: caught?.cursor ?? "" });
      expect(r4.events.map(eventSignature)).toEqual(["created:6"]);
    });

    it("a garbage cursor is CURSOR_INVALID", async () => {
      const u = await ctx.user("badcur");
      for (const cursor of ["not-a-cursor", "c1.!!!", "💥"]) {
        await expectStreamError(
          (signal) => u.clients.sync.subscribe({ cursor }, { signal }),
          Code.InvalidArgument,
          ErrorReason.CURSOR_INVALID,
        );
      }
    });

    it("a device resuming after 1,000 missed messages gets exactly those, once, in seq order; a live second device gets the same", {
      timeout: SLOW,
    }, async () => {
      const [a, b] = await ctx.users(2, "k");
      if (!a || !b) throw new Error("users");
      const d1 = await ctx.connect(b, { deviceId: "phone" });
      const cid = (await createDirect(a, b)).conversationId;
      await d1.waitForEvents(1);
      const cursor = d1.lastCursor;
      await d1.close();
      const d2 = await ctx.connect(b, { deviceId: "laptop" });

      await sendMany(a, cid, 1000, 16, "k");
      // An ack means the message is committed and fanned out, not yet that b's gateway
      // stored it in b's stream (in a cluster that is a consumer further on). Once the
      // live device has every event, all 1,000 are stored, so a resume must replay all
      // of them before CaughtUp.
      await d2.waitForEvents(1000, 60_000);
      const resumed = ctx.subscribe(b, { cursor, deviceId: "phone" });
      await resumed.waitForCaughtUp(1, 60_000);
      expect(resumed.eventsBeforeCaughtUp[0]).toBe(1000);
      expect(resumed.events.every((e) => e.payload.case === "messageCreated")).toBe(true);
      expectContiguous(
        resumed.events.map((e) => ({
          seq: e.payload.case === "messageCreated" ? (e.payload.value.message?.seq ?? 0) : 0,
        })),
      );
      expectWellFormedEvents(resumed);

      expect(d2.events.map((e) => e.eventId)).toEqual(resumed.events.map((e) => e.eventId));
      expect(d2.events.map(eventSignature)).toEqual(resumed.events.map(eventSignature));
    });

    it("a cursor older than the retained window gets RESYNC_REQUIRED; GetSnapshot recovers", {
      timeout: SLOW,
    }, async () => {
      const [a, b] = await ctx.users(2, "resync");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const other = (await createGroup(a, [b], "quiet")).conversationId;
      await send(b, other, "quiet one");
      const first = await ctx.connect(b);
      const oldCursor = first.lastCursor;
      await first.close();

      const max = ctx.service.maxEventsPerUser;
      const n = max + Math.ceil(max / 5) + 10;
      await sendMany(a, cid, n, 16, "r");

      // Pruning may run in the background; allow it a few seconds.
      let lastError: string | undefined;
      await waitFor(
        async () => {
          const probe = ctx.subscribe(b, { cursor: oldCursor });
          const err = await probe.waitForCaughtUp(1, 30_000).then(
            () => undefined,
            () => probe.error,
          );
          await probe.close();
          if (!err) {
            lastError = "the stream replayed instead of failing";
            return false;
          }
          lastError = `${Code[err.code]} ${String(parleyDetail(err)?.reason)}`;
          return (
            err.code === Code.FailedPrecondition && parleyDetail(err)?.reason === ErrorReason.RESYNC_REQUIRED
          );
        },
        15_000,
        "Subscribe from a pruned cursor to fail with RESYNC_REQUIRED",
        500,
      ).catch((e: unknown) => {
        throw new Error(`${String(e)} (last outcome: ${lastError})`);
      });
      await expectStreamError(
        (signal) => b.clients.sync.subscribe({ cursor: oldCursor }, { signal }),
        Code.FailedPrecondition,
        ErrorReason.RESYNC_REQUIRED,
        30_000,
      );

      const snap = await b.clients.sync.getSnapshot({});
      expect(snap.cursor).not.toBe("");
      const dm = snap.conversations.find((s) => s.conversation?.conversationId === cid);
      expect(dm?.conversation?.lastSeq).toBe(n);
      expect(dm?.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => n - 19 + i));
      const quiet = snap.conversations.find((s) => s.conversation?.conversationId === other);
      expect(quiet?.messages.map((m) => m.text)).toEqual(["quiet one"]);

      const live = ctx.subscribe(b, { cursor: snap.cursor });
      await live.waitForCaughtUp(1, 30_000);
      await send(a, cid, "after resync");
      const e = await live.waitForEvent(
        (x) => x.payload.case === "messageCreated" && x.payload.value.message?.seq === n + 1,
        15_000,
        `message_created seq ${n + 1}`,
      );
      expect(e.conversationId).toBe(cid);
      expect(live.error).toBeUndefined();
    });

    it("GetSnapshot returns conversations with their newest messages ascending and a usable cursor", async () => {
      const [a, b] = await ctx.users(2, "snap");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      const gid = (await createGroup(b, [a], "g")).conversationId;
      await sendMany(a, cid, 25, 4);
      await send(b, gid, "g1");
      const snap = await b.clients.sync.getSnapshot({});
      const byId = new Map(snap.conversations.map((s) => [s.conversation?.conversationId, s]));
      expect(byId.get(cid)?.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
      expect(byId.get(cid)?.conversation?.unreadCount).toBe(25);
      expect(byId.get(gid)?.messages.map((m) => m.text)).toEqual(["g1"]);
      const few = await b.clients.sync.getSnapshot({ messagesPerConversation: 3 });
      expect(
        few.conversations.find((s) => s.conversation?.conversationId === cid)?.messages.map((m) => m.seq),
      ).toEqual([23, 24, 25]);

      const c = ctx.subscribe(b, { cursor: snap.cursor });
      await c.waitForCaughtUp();
      const m = await send(a, cid, "later");
      await c.waitForEvent(
        (e) => e.payload.case === "messageCreated" && e.payload.value.message?.messageId === m.messageId,
      );
      // Replays of events already in the snapshot are allowed, but each event arrives at most once.
      expectWellFormedEvents(c);
    });

    it("typing reaches the other members' streams; non-members get NOT_A_MEMBER", async () => {
      const [a, b, c, x] = await ctx.users(4, "typ");
      if (!a || !b || !c || !x) throw new Error("users");
      // Connected before the group exists, so the group's creation event is the one durable
      // event they get; it may arrive after CreateGroup returns (in a cluster, fan-out goes
      // through the log), as a member would see it.
      const cb = await ctx.connect(b);
      const cc = await ctx.connect(c);
      const cid = (await createGroup(a, [b, c])).conversationId;
      const creation = `conversation:CREATED:${a.id}`;
      for (const col of [cb, cc]) await expectSignatures(col, [creation]);
      await a.clients.presence.setTyping({ conversationId: cid, typing: true });
      for (const col of [cb, cc]) {
        const t = await col.waitForTyping((e) => e.userId === a.id && e.typing);
        expect(t.conversationId).toBe(cid);
      }
      await a.clients.presence.setTyping({ conversationId: cid, typing: false });
      await cb.waitForTyping((e) => e.userId === a.id && !e.typing);
      await expectParleyError(
        x.clients.presence.setTyping({ conversationId: cid, typing: true }),
        Code.PermissionDenied,
        ErrorReason.NOT_A_MEMBER,
      );
      // A sentinel typing event from c: the rejected one from x must not have been forwarded.
      await c.clients.presence.setTyping({ conversationId: cid, typing: true });
      await cb.waitForTyping((e) => e.userId === c.id && e.typing);
      expect(cb.typing.filter((e) => e.userId === x.id)).toEqual([]);
      // Typing is ephemeral: no durable event besides the group's creation.
      expect(cb.events.map(eventSignature)).toEqual([creation]);
      expect(cc.events.map(eventSignature)).toEqual([creation]);
    });
  });
}
