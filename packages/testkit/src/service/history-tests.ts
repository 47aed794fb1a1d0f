import { Code } from "@connectrpc/connect";
import { ErrorReason, type GetHistoryRequest, LIMITS, type Message } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import {
  conversationState,
  createDirect,
  expectContiguous,
  fullHistory,
  type SuiteContext,
  sendMany,
  type TestUser,
} from "./context.js";
import { expectParleyError, tsNanos } from "./helpers.js";

type Anchor = GetHistoryRequest["anchor"];

const SLOW = 120_000;

/** GetHistory: anchors, limits, has_more flags, paging. */
export function historyTests(ctx: SuiteContext): void {
  describe("history", () => {
    async function setup(
      n: number,
      concurrency = 8,
    ): Promise<{ a: TestUser; b: TestUser; cid: string; all: Message[] }> {
      const [a, b] = await ctx.users(2, "hist");
      if (!a || !b) throw new Error("users");
      const cid = (await createDirect(a, b)).conversationId;
      await sendMany(a, cid, n, concurrency, "h");
      const all = await fullHistory(b, cid);
      expectContiguous(all);
      expect(all).toHaveLength(n);
      return { a, b, cid, all };
    }

    async function page(user: TestUser, cid: string, anchor: Anchor, limit: number) {
      const res = await user.clients.messages.getHistory({ conversationId: cid, anchor, limit });
      return {
        seqs: res.messages.map((m) => m.seq),
        before: res.hasMoreBefore,
        after: res.hasMoreAfter,
        messages: res.messages,
      };
    }

    function range(from: number, to: number): number[] {
      return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
    }

    it("seq anchors: newest by default, limit 0 means 50, before/after exclusive, has_more flags", async () => {
      const { b, cid, all } = await setup(60);
      const none: Anchor = { case: undefined };
      expect(await page(b, cid, none, 0)).toMatchObject({ seqs: range(11, 60), before: true, after: false });
      expect(await page(b, cid, none, 10)).toMatchObject({ seqs: range(51, 60), before: true, after: false });
      expect(await page(b, cid, none, 200)).toMatchObject({
        seqs: range(1, 60),
        before: false,
        after: false,
      });
      expect(await page(b, cid, { case: "beforeSeq", value: 20 }, 5)).toMatchObject({
        seqs: range(15, 19),
        before: true,
        after: true,
      });
      expect(await page(b, cid, { case: "beforeSeq", value: 3 }, 5)).toMatchObject({
        seqs: [1, 2],
        before: false,
        after: true,
      });
      expect(await page(b, cid, { case: "beforeSeq", value: 1 }, 5)).toMatchObject({
        seqs: [],
        before: false,
      });
      expect(await page(b, cid, { case: "afterSeq", value: 10 }, 5)).toMatchObject({
        seqs: range(11, 15),
        before: true,
        after: true,
      });
      expect(await page(b, cid, { case: "afterSeq", value: 55 }, 10)).toMatchObject({
        seqs: range(56, 60),
        before: true,
        after: false,
      });
      expect(await page(b, cid, { case: "afterSeq", value: 0 }, 3)).toMatchObject({
        seqs: [1, 2, 3],
        before: false,
        after: true,
      });
      expect(await page(b, cid, { case: "afterSeq", value: 60 }, 3)).toMatchObject({
        seqs: [],
        after: false,
      });
      const p = await page(b, cid, { case: "afterSeq", value: 0 }, 60);
      expect(p.messages).toEqual(all);
    });

    it("around_seq: floor((limit-1)/2) before, the anchor, the rest after; fewer at the ends", async () => {
      const { b, cid } = await setup(60);
      expect(await page(b, cid, { case: "aroundSeq", value: 30 }, 5)).toMatchObject({
        seqs: range(28, 32),
        before: true,
        after: true,
      });
      expect(await page(b, cid, { case: "aroundSeq", value: 30 }, 4)).toMatchObject({
        seqs: range(29, 32),
        before: true,
        after: true,
      });
      expect(await page(b, cid, { case: "aroundSeq", value: 30 }, 1)).toMatchObject({ seqs: [30] });
      // Near the start: no more than the anchor's predecessors exist.
      const start = await page(b, cid, { case: "aroundSeq", value: 1 }, 5);
      expect(start.seqs[0]).toBe(1);
      expect(start.seqs).toEqual(range(1, start.seqs.length));
      expect(start.seqs.length).toBeGreaterThanOrEqual(3);
      expect(start.seqs.length).toBeLessThanOrEqual(5);
      expect(start.before).toBe(false);
      expect(start.after).toBe(true);
      // Near the end: fewer after.
      const end = await page(b, cid, { case: "aroundSeq", value: 60 }, 5);
      expect(end.seqs.slice(-3)).toEqual([58, 59, 60]);
      expect(end.seqs).toEqual(range(61 - end.seqs.length, 60));
      expect(end.seqs.length).toBeLessThanOrEqual(5);
      expect(end.after).toBe(false);
      expect(end.before).toBe(true);
    });

    it("time anchors: before_time exclusive, after_time inclusive on created_at", async () => {
      // Sent one at a time so created_at follows seq.
      const { b, cid, all } = await setup(40, 1);
      const pivot = all[19];
      if (!pivot?.createdAt) throw new Error("no pivot");
      const t = tsNanos(pivot.createdAt);
      const earlier = all.filter((m) => tsNanos(m.createdAt) < t).map((m) => m.seq);
      const laterOrSame = all.filter((m) => tsNanos(m.createdAt) >= t).map((m) => m.seq);
      expect(laterOrSame).toContain(pivot.seq);

      const before = await page(b, cid, { case: "beforeTime", value: pivot.createdAt }, 200);
      expect(before.seqs).toEqual(earlier);
      expect(before.after).toBe(true);
      const after = await page(b, cid, { case: "afterTime", value: pivot.createdAt }, 200);
      expect(after.seqs).toEqual(laterOrSame);
      expect(after.seqs[0]).toBeLessThanOrEqual(pivot.seq);
      expect(after.after).toBe(false);

      const beforeFew = await page(b, cid, { case: "beforeTime", value: pivot.createdAt }, 3);
      expect(beforeFew.seqs).toEqual(earlier.slice(-3));
      const afterFew = await page(b, cid, { case: "afterTime", value: pivot.createdAt }, 3);
      expect(afterFew.seqs).toEqual(laterOrSame.slice(0, 3));
      expect(afterFew.after).toBe(true);
    });

    it("limit > 200 is LIMIT_OUT_OF_RANGE and changes nothing", async () => {
      const { a, cid } = await setup(3);
      const before = await conversationState(a, cid);
      await expectParleyError(
        a.clients.messages.getHistory({ conversationId: cid, limit: LIMITS.maxHistoryLimit + 1 }),
        Code.InvalidArgument,
        ErrorReason.LIMIT_OUT_OF_RANGE,
      );
      expect(await conversationState(a, cid)).toEqual(before);
    });

    it("paging back through 500 messages with before_seq visits each exactly once", {
      timeout: SLOW,
    }, async () => {
      const { b, cid } = await setup(500);
      const seen: number[] = [];
      let anchor: Anchor = { case: undefined };
      for (let pages = 0; pages < 100; pages++) {
        const p = await page(b, cid, anchor, 37);
        expect(p.seqs).toEqual([...p.seqs].sort((x, y) => x - y));
        seen.unshift(...p.seqs);
        const first = p.seqs[0];
        if (!p.before || first === undefined) break;
        anchor = { case: "beforeSeq", value: first };
      }
      expect(seen).toEqual(range(1, 500));
    });
  });
}
