import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ConversationState } from "@parley/history";
import { type ConversationService, ErrorReason, LIMITS, parleyError } from "@parley/protocol";
import { CreateDirectSchema } from "@parley/protocol/internal";
import { conversationView } from "@parley/router";
import { caller, expectOutcome, memberConversation, run, userConversations } from "../common.js";
import type { ParleyDeps } from "../deps.js";
import { check } from "../validate.js";

/** The id of the direct conversation of two users: the same whoever asks. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

/** The id of the group `creator` makes with `clientId`: retries land on the same group. */
export function groupConversationId(creator: string, clientId: string): string {
  return `g:${createHash("sha256").update(`${creator}\n${clientId}`).digest("base64url").slice(0, 22)}`;
}

function decodePageToken(token: string): number {
  if (token === "") return 0;
  const match = /^o([0-9]{1,9})$/.exec(token);
  if (!match) {
    throw parleyError(ErrorReason.FIELD_INVALID, "unable to list conversations; page_token is not valid", {
      field: "page_token",
    });
  }
  return Number(match[1]);
}

/** ConversationService: create, membership, rename, get and list. */
export function conversationService(deps: ParleyDeps): ServiceImpl<typeof ConversationService> {
  const withLastMessage = async (state: ConversationState, userId: string) =>
    conversationView(
      state,
      userId,
      state.lastSeq > 0 ? await deps.history.getMessage(state.conversationId, state.lastSeq) : undefined,
    );

  return {
    async createDirect(req, ctx) {
      const op = "create direct conversation";
      const user = caller(ctx);
      check.userId(op, req.peerUserId, "peer_user_id");
      if (req.peerUserId === user.userId) {
        throw parleyError(ErrorReason.FIELD_INVALID, `unable to ${op}; peer_user_id must be another user`, {
          field: "peer_user_id",
        });
      }
      const outcome = await run(deps, {
        actorId: user.userId,
        conversationId: directConversationId(user.userId, req.peerUserId),
        kind: { case: "createDirect", value: create(CreateDirectSchema, { peerUserId: req.peerUserId }) },
      });
      return { conversation: expectOutcome(outcome, "conversation") };
    },

    async createGroup(req, ctx) {
      const op = "create group";
      const user = caller(ctx);
      check.clientId(op, req.clientId, "client_id");
      check.title(op, req.title);
      // The caller counts as a member too.
      const others = [...new Set(req.memberIds)].filter((id) => id !== user.userId);
      check.userIds(op, others, "member_ids", LIMITS.maxGroupMembers - 1, ErrorReason.GROUP_FULL);
      const outcome = await run(deps, {
        actorId: user.userId,
        conversationId: groupConversationId(user.userId, req.clientId),
        kind: { case: "createGroup", value: req },
      });
      return { conversation: expectOutcome(outcome, "conversation") };
    },

    async addMembers(req, ctx) {
      const op = "add members";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      if (req.userIds.length === 0) {
        throw parleyError(ErrorReason.FIELD_REQUIRED, `unable to ${op}; user_ids is required`, {
          field: "user_ids",
        });
      }
      check.userIds(op, req.userIds, "user_ids", LIMITS.maxGroupMembers, ErrorReason.GROUP_FULL);
      const outcome = await run(deps, {
        actorId: user.userId,
        conversationId: req.conversationId,
        kind: { case: "addMembers", value: req },
      });
      return { conversation: expectOutcome(outcome, "conversation") };
    },

    async removeMember(req, ctx) {
      const op = "remove member";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      check.userId(op, req.userId, "user_id");
      const outcome = await run(deps, {
        actorId: user.userId,
        conversationId: req.conversationId,
        kind: { case: "removeMember", value: req },
      });
      return { conversation: expectOutcome(outcome, "conversation") };
    },

    async leave(req, ctx) {
      const user = caller(ctx);
      check.conversationId("leave conversation", req.conversationId);
      await run(deps, {
        actorId: user.userId,
        conversationId: req.conversationId,
        kind: { case: "leave", value: req },
      });
      return {};
    },

    async rename(req, ctx) {
      const op = "rename conversation";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      check.title(op, req.title);
      const outcome = await run(deps, {
        actorId: user.userId,
        conversationId: req.conversationId,
        kind: { case: "rename", value: req },
      });
      return { conversation: expectOutcome(outcome, "conversation") };
    },

    async getConversation(req, ctx) {
      const op = "get conversation";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      const state = await memberConversation(deps, op, user.userId, req.conversationId);
      return { conversation: await withLastMessage(state, user.userId) };
    },

    async listConversations(req, ctx) {
      const op = "list conversations";
      const user = caller(ctx);
      const limit = check.limit(op, req.limit, LIMITS.maxConversationLimit, 50);
      const offset = decodePageToken(req.pageToken);
      const states = await userConversations(deps, user.userId);
      const page = states.slice(offset, offset + limit);
      const conversations = await Promise.all(page.map((s) => withLastMessage(s, user.userId)));
      const next = offset + page.length;
      return { conversations, nextPageToken: next < states.length ? `o${next}` : "" };
    },
  };
}
