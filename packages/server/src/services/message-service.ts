import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { HistoryQuery } from "@parley/history";
import {
  ErrorReason,
  type GetHistoryRequest,
  LIMITS,
  type MessageService,
  parleyError,
} from "@parley/protocol";
import { caller, expectOutcome, memberConversation, run } from "../common.js";
import type { ParleyDeps } from "../deps.js";
import { check } from "../validate.js";

function checkTarget(op: string, req: { conversationId: string; seq: number; clientId: string }): void {
  check.conversationId(op, req.conversationId);
  check.required(op, "seq", req.seq);
  check.clientId(op, req.clientId, "client_id");
}

/** MessageService: send, edit, delete, reactions, history and receipts. */
export function messageService(deps: ParleyDeps): ServiceImpl<typeof MessageService> {
  const messageCommand = async (
    userId: string,
    conversationId: string,
    kind: Parameters<typeof run>[1]["kind"],
  ) => ({ message: expectOutcome(await run(deps, { actorId: userId, conversationId, kind }), "message") });

  const receiptCommand = async (
    op: string,
    userId: string,
    req: { conversationId: string; seq: number; clientId: string },
    kind: Parameters<typeof run>[1]["kind"],
  ) => {
    check.conversationId(op, req.conversationId);
    check.required(op, "seq", req.seq);
    check.clientId(op, req.clientId, "client_id", false);
    return expectOutcome(
      await run(deps, { actorId: userId, conversationId: req.conversationId, kind }),
      "receipt",
    );
  };

  return {
    async sendMessage(req, ctx) {
      const op = "send message";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      check.clientId(op, req.clientMsgId, "client_msg_id");
      if (req.text === "" && !req.attachment) {
        throw parleyError(
          ErrorReason.FIELD_REQUIRED,
          `unable to ${op}; text is required when there is no attachment`,
          {
            field: "text",
          },
        );
      }
      check.text(op, req.text);
      if (req.attachment && req.attachment.url === "") {
        throw parleyError(ErrorReason.FIELD_REQUIRED, `unable to ${op}; attachment.url is required`, {
          field: "attachment.url",
        });
      }
      return messageCommand(user.userId, req.conversationId, { case: "sendMessage", value: req });
    },

    async editMessage(req, ctx) {
      const op = "edit message";
      const user = caller(ctx);
      checkTarget(op, req);
      check.required(op, "text", req.text);
      check.text(op, req.text);
      return messageCommand(user.userId, req.conversationId, { case: "editMessage", value: req });
    },

    async deleteMessage(req, ctx) {
      const user = caller(ctx);
      checkTarget("delete message", req);
      return messageCommand(user.userId, req.conversationId, { case: "deleteMessage", value: req });
    },

    async addReaction(req, ctx) {
      const op = "add reaction";
      const user = caller(ctx);
      checkTarget(op, req);
      check.emoji(op, req.emoji);
      return messageCommand(user.userId, req.conversationId, { case: "addReaction", value: req });
    },

    async removeReaction(req, ctx) {
      const op = "remove reaction";
      const user = caller(ctx);
      checkTarget(op, req);
      check.emoji(op, req.emoji);
      return messageCommand(user.userId, req.conversationId, { case: "removeReaction", value: req });
    },

    async getHistory(req, ctx) {
      const op = "get history";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      const limit = check.limit(op, req.limit, LIMITS.maxHistoryLimit, LIMITS.defaultHistoryLimit);
      const state = await memberConversation(deps, op, user.userId, req.conversationId);
      const messages = await readHistory(deps, req, limit);
      const first = messages[0]?.seq;
      const last = messages[messages.length - 1]?.seq;
      return {
        messages,
        hasMoreBefore: first !== undefined ? first > 1 : anchorBefore(req, state.lastSeq),
        hasMoreAfter: last !== undefined ? last < state.lastSeq : anchorAfter(req, state.lastSeq),
      };
    },

    async markDelivered(req, ctx) {
      const user = caller(ctx);
      const r = await receiptCommand("mark delivered", user.userId, req, {
        case: "markDelivered",
        value: req,
      });
      return { deliveredSeq: r.deliveredSeq, readSeq: r.readSeq };
    },

    async markRead(req, ctx) {
      const user = caller(ctx);
      const r = await receiptCommand("mark read", user.userId, req, { case: "markRead", value: req });
      return { deliveredSeq: r.deliveredSeq, readSeq: r.readSeq, unreadCount: r.unreadCount };
    },
  };
}

/** Whether messages exist before an anchor that matched nothing. */
function anchorBefore(req: GetHistoryRequest, lastSeq: number): boolean {
  const a = req.anchor;
  if (a.case === "afterSeq") return lastSeq > 0 && a.value >= 1;
  if (a.case === "afterTime") return lastSeq > 0;
  return false;
}

/** Whether messages exist after an anchor that matched nothing. */
function anchorAfter(req: GetHistoryRequest, lastSeq: number): boolean {
  const a = req.anchor;
  if (a.case === "beforeSeq") return a.value <= lastSeq;
  if (a.case === "beforeTime") return lastSeq > 0;
  return false;
}

async function readHistory(deps: ParleyDeps, req: GetHistoryRequest, limit: number) {
  const id = req.conversationId;
  const a = req.anchor;
  let query: HistoryQuery;
  switch (a.case) {
    case "beforeSeq":
      query = { kind: "before", seq: a.value, limit };
      break;
    case "afterSeq":
      query = { kind: "after", seq: a.value, limit };
      break;
    case "beforeTime":
      query = { kind: "beforeTime", timeMs: timestampMs(a.value), limit };
      break;
    case "afterTime":
      query = { kind: "afterTime", timeMs: timestampMs(a.value), limit };
      break;
    case "aroundSeq": {
      const beforeCount = Math.floor((limit - 1) / 2);
      const before =
        beforeCount > 0
          ? await deps.history.getMessages(id, { kind: "before", seq: a.value, limit: beforeCount })
          : [];
      const rest = await deps.history.getMessages(id, {
        kind: "after",
        seq: a.value - 1,
        limit: limit - before.length,
      });
      return [...before, ...rest];
    }
    default:
      query = { kind: "latest", limit };
  }
  return deps.history.getMessages(id, query);
}
