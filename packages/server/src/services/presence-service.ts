import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { PresenceRecord } from "@parley/presence";
import {
  ErrorReason,
  LIMITS,
  type Presence,
  PresenceSchema,
  type PresenceService,
  parleyError,
  SubscribeResponseSchema,
  TypingEventSchema,
} from "@parley/protocol";
import { caller, memberConversation } from "../common.js";
import type { ParleyDeps } from "../deps.js";
import { AsyncQueue } from "../queue.js";
import { check } from "../validate.js";

function toPresence(record: PresenceRecord): Presence {
  return create(PresenceSchema, {
    userId: record.userId,
    online: record.online,
    lastSeen: record.lastSeenMs !== undefined ? timestampFromMs(record.lastSeenMs) : undefined,
  });
}

function checkUsers(op: string, userIds: string[]): void {
  if (userIds.length === 0) {
    throw parleyError(ErrorReason.FIELD_REQUIRED, `unable to ${op}; user_ids is required`, {
      field: "user_ids",
    });
  }
  check.userIds(op, userIds, "user_ids", LIMITS.maxPresenceUsers, ErrorReason.LIMIT_OUT_OF_RANGE);
}

/** PresenceService: presence reads and watches, typing indicators. */
export function presenceService(deps: ParleyDeps): ServiceImpl<typeof PresenceService> {
  return {
    async getPresence(req, ctx) {
      caller(ctx);
      checkUsers("get presence", req.userIds);
      const records = await deps.presence.getPresence(req.userIds);
      return { presence: records.map(toPresence) };
    },

    async *watchPresence(req, ctx) {
      caller(ctx);
      checkUsers("watch presence", req.userIds);
      const signal = deps.shutdownSignal ? AbortSignal.any([ctx.signal, deps.shutdownSignal]) : ctx.signal;
      const queue = new AsyncQueue<PresenceRecord>(signal);
      const unwatch = deps.presence.watch(req.userIds, (record) => queue.push(record));
      try {
        for (const record of await deps.presence.getPresence(req.userIds)) {
          yield { presence: toPresence(record) };
        }
        for await (const record of queue) yield { presence: toPresence(record) };
      } finally {
        unwatch();
      }
    },

    async setTyping(req, ctx) {
      const op = "set typing";
      const user = caller(ctx);
      check.conversationId(op, req.conversationId);
      const state = await memberConversation(deps, op, user.userId, req.conversationId);
      const allowed = await deps.presence.hit(`typing:${user.userId}`, 20, 10_000);
      if (!allowed) {
        throw parleyError(ErrorReason.RATE_LIMITED, `unable to ${op}; too many typing updates, slow down`);
      }
      const payload = toBinary(
        SubscribeResponseSchema,
        create(SubscribeResponseSchema, {
          kind: {
            case: "typing",
            value: create(TypingEventSchema, {
              conversationId: req.conversationId,
              userId: user.userId,
              typing: req.typing,
            }),
          },
        }),
      );
      await Promise.all(
        state.members
          .filter((m) => m.userId !== user.userId)
          .map((m) => deps.presence.publish(m.userId, payload)),
      );
      return {};
    },
  };
}
