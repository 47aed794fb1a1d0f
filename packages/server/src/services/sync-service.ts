import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { UserEvent } from "@parley/history";
import {
  decodeCursor,
  ErrorReason,
  EventSchema,
  encodeCursor,
  LIMITS,
  parleyError,
  type SubscribeResponse,
  SubscribeResponseSchema,
  type SyncService,
  ulid,
} from "@parley/protocol";
import { conversationView } from "@parley/router";
import { caller, userConversations } from "../common.js";
import type { ParleyDeps } from "../deps.js";
import { wrongGateway } from "../gateway.js";
import { type Beating, createHeartbeatWheel } from "../heartbeat.js";
import { AsyncQueue } from "../queue.js";
import { check } from "../validate.js";

const PAGE = 500;

type Item = { events: UserEvent[] } | { ephemeral: Uint8Array } | { heartbeat: true };

const HEARTBEAT: Item = { heartbeat: true };

/** A live device stream, as the service's shared heartbeat and shutdown see it. */
interface LiveStream extends Beating {
  readonly userId: string;
  /** This stream's presence connection. */
  readonly connectionId: string;
  readonly queue: AsyncQueue<Item>;
}

function toResponse(event: UserEvent): SubscribeResponse {
  const decoded = fromBinary(EventSchema, event.payload);
  decoded.cursor = encodeCursor(event.position);
  return create(SubscribeResponseSchema, { kind: { case: "event", value: decoded } });
}

function resync(op: string, why: string): never {
  throw parleyError(
    ErrorReason.RESYNC_REQUIRED,
    `unable to ${op}; ${why}: call GetSnapshot and subscribe with its cursor`,
  );
}

/** SyncService: the device event stream and snapshots. */
export function syncService(deps: ParleyDeps): ServiceImpl<typeof SyncService> {
  const presenceTtlMs = deps.presenceTtlMs ?? 30_000;
  const heartbeatMs = deps.streamHeartbeatMs ?? 25_000;
  const beat = (stream: LiveStream) =>
    deps.presence.heartbeat(stream.userId, stream.connectionId, presenceTtlMs).catch((err) => {
      deps.logger.warn("presence heartbeat failed", { err, userId: stream.userId });
    });
  // One timer for every live stream of this service (not one each): it refreshes the
  // stream's presence and sends a heartbeat message on it.
  const heartbeats = createHeartbeatWheel<LiveStream>(Math.min(heartbeatMs, presenceTtlMs / 3), (stream) => {
    void beat(stream);
    stream.queue.push(HEARTBEAT);
  });
  // On shutdown every live stream ends (one listener here, not one per stream).
  deps.shutdownSignal?.addEventListener(
    "abort",
    () => {
      for (const stream of heartbeats.values()) stream.queue.end();
    },
    { once: true },
  );

  /** Stored events after `position` up to the end, checking the cursor is still resumable. */
  async function* replay(userId: string, from: number): AsyncGenerator<UserEvent> {
    let position = from;
    let first = true;
    for (;;) {
      const page = await deps.history.readUserEvents(userId, position, PAGE);
      if (first && (position < page.horizon || position > page.last)) {
        resync(
          "subscribe",
          position > page.last ? "the cursor is ahead of this server's events" : "the cursor is too old",
        );
      }
      first = false;
      for (const event of page.events) {
        position = event.position;
        yield event;
      }
      if (page.events.length < PAGE) return;
    }
  }

  return {
    async *subscribe(req, ctx: HandlerContext) {
      const op = "subscribe";
      const user = caller(ctx);
      if (req.deviceId !== "") check.clientId(op, req.deviceId, "device_id");
      let position: number | undefined;
      if (req.cursor !== "") {
        try {
          position = decodeCursor(req.cursor);
        } catch {
          throw parleyError(
            ErrorReason.CURSOR_INVALID,
            `unable to ${op}; cursor is not a Parley sync cursor`,
            {
              field: "cursor",
            },
          );
        }
      }
      const gateway = deps.gateway;
      if (gateway && !gateway.owns(user.userId)) throw await wrongGateway(deps, gateway, op, user.userId);
      const queue = new AsyncQueue<Item>(ctx.signal);
      if (deps.shutdownSignal?.aborted) queue.end();
      // Registered in the same tick as the check above: no rebalance falls between them.
      // A stream of a user this gateway no longer serves ends, so the device moves.
      const unsubscribeGateway = gateway?.onChange(() => {
        if (gateway.owns(user.userId)) return;
        void wrongGateway(deps, gateway, op, user.userId).then((err) => {
          if (!gateway.owns(user.userId)) queue.fail(err);
        });
      });
      // Register live delivery before reading stored events, so nothing falls between them.
      const unsubscribeHub = deps.hub.subscribe(user.userId, (events) => queue.push({ events }));
      const unsubscribeEphemeral = deps.presence.subscribe(user.userId, (payload) =>
        queue.push({ ephemeral: payload }),
      );
      const connectionId = ulid();
      // ulid() builds its result one character at a time: reading a character flattens
      // that chain of ~25 string pieces (about 750 bytes a stream) into one string.
      connectionId.charCodeAt(0);
      const stream: LiveStream = { userId: user.userId, connectionId, queue, heartbeatSlot: -1 };
      heartbeats.add(stream);
      await beat(stream);
      deps.logger.debug("stream opened", { userId: user.userId, deviceId: req.deviceId });
      try {
        if (position === undefined) {
          position = (await deps.history.readUserEvents(user.userId, 0, 0)).last;
        } else {
          for await (const event of replay(user.userId, position)) {
            position = event.position;
            yield toResponse(event);
          }
        }
        yield create(SubscribeResponseSchema, {
          kind: { case: "caughtUp", value: { cursor: encodeCursor(position) } },
        });
        for await (const item of queue) {
          if ("events" in item) {
            for (const event of item.events) {
              if (event.position <= position) continue;
              if (event.position > position + 1) {
                // Missed some (e.g. pushed before we registered): fill the gap from storage.
                for await (const missed of replay(user.userId, position)) {
                  if (missed.position >= event.position) break;
                  position = missed.position;
                  yield toResponse(missed);
                }
              }
              position = event.position;
              yield toResponse(event);
            }
          } else if ("ephemeral" in item) {
            yield fromBinary(SubscribeResponseSchema, item.ephemeral);
          } else {
            yield create(SubscribeResponseSchema, {
              kind: { case: "heartbeat", value: { time: timestampFromMs(Date.now()) } },
            });
          }
        }
        if (deps.shutdownSignal?.aborted && !ctx.signal.aborted) {
          throw parleyError(
            ErrorReason.SHUTTING_DOWN,
            `unable to ${op}; the server is shutting down, reconnect`,
          );
        }
      } finally {
        heartbeats.delete(stream);
        unsubscribeGateway?.();
        unsubscribeHub();
        unsubscribeEphemeral();
        deps.presence.disconnect(user.userId, stream.connectionId).catch((err) => {
          deps.logger.warn("presence disconnect failed", { err, userId: user.userId });
        });
        deps.logger.debug("stream closed", { userId: user.userId, deviceId: req.deviceId });
      }
    },

    async getSnapshot(req, ctx) {
      const op = "get snapshot";
      const user = caller(ctx);
      const perConversation = check.limit(
        op,
        req.messagesPerConversation,
        LIMITS.maxHistoryLimit,
        20,
        "messages_per_conversation",
      );
      const conversationLimit = check.limit(op, req.conversationLimit, 1000, 200, "conversation_limit");
      // The cursor is taken first: anything that changes while we read is replayed after it.
      const { last } = await deps.history.readUserEvents(user.userId, 0, 0);
      const states = (await userConversations(deps, user.userId)).slice(0, conversationLimit);
      const conversations = await Promise.all(
        states.map(async (state) => {
          const messages =
            state.lastSeq > 0
              ? await deps.history.getMessages(state.conversationId, {
                  kind: "latest",
                  limit: perConversation,
                })
              : [];
          return {
            conversation: conversationView(state, user.userId, messages[messages.length - 1]),
            messages,
          };
        }),
      );
      return { conversations, cursor: encodeCursor(last) };
    },
  };
}
