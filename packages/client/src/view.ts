import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AttachmentSchema,
  type Conversation,
  ConversationSchema,
  type Message,
  MessageSchema,
  ReactionSchema,
} from "@parley/protocol";
import type { ClientState } from "./state.js";
import { sortedOutbox } from "./state.js";
import type { MessageTarget, OutboxFailure, OutboxItem } from "./store/port.js";

/** Where one of the messages shown to the user stands. */
export type MessageStatus = "pending" | "sent" | "delivered" | "read" | "failed";

/**
 * A message as the app shows it: the server's message with the user's pending
 * edits, deletes and reactions applied, or the optimistic message of a send
 * still in the outbox (seq 0).
 */
export interface LocalMessage {
  readonly message: Message;
  /**
   * `pending`/`failed`: a send in the outbox. Otherwise `sent`; for messages I
   * sent, `delivered` once every other member's delivered watermark reached it
   * and `read` once every other member's read watermark did.
   */
  readonly status: MessageStatus;
  /** Why the send failed, when status is `failed`. */
  readonly failure?: OutboxFailure;
}

/** Status of a confirmed message in `conversation` as seen by `me`. */
export function messageStatus(
  conversation: Conversation | undefined,
  message: Message,
  me: string,
): MessageStatus {
  if (message.senderId !== me || !conversation) return "sent";
  const others = conversation.members.filter((m) => m.userId !== me);
  if (others.length === 0) return "sent";
  if (others.every((m) => m.readSeq >= message.seq)) return "read";
  if (others.every((m) => m.deliveredSeq >= message.seq)) return "delivered";
  return "sent";
}

function targets(target: MessageTarget, message: Message): boolean {
  if ("seq" in target) return message.seq !== 0 && target.seq === message.seq;
  return target.clientMsgId !== "" && target.clientMsgId === message.clientMsgId;
}

/** `message` with one pending edit, delete or reaction of `me` applied. */
function overlay(message: Message, item: OutboxItem, me: string): Message {
  const op = item.op;
  switch (op.kind) {
    case "edit":
      if (message.deletedAt) return message;
      return create(MessageSchema, { ...message, text: op.text, editedAt: timestampFromMs(item.createdAt) });
    case "delete":
      return create(MessageSchema, {
        ...message,
        text: "",
        attachment: undefined,
        reactions: [],
        deletedAt: message.deletedAt ?? timestampFromMs(item.createdAt),
      });
    case "react": {
      if (message.deletedAt) return message;
      const entry = message.reactions.find((r) => r.emoji === op.emoji);
      const has = entry?.userIds.includes(me) ?? false;
      if (has === op.add) return message;
      const reactions = op.add
        ? entry
          ? message.reactions.map((r) =>
              r === entry ? create(ReactionSchema, { emoji: r.emoji, userIds: [...r.userIds, me] }) : r,
            )
          : [...message.reactions, create(ReactionSchema, { emoji: op.emoji, userIds: [me] })]
        : message.reactions
            .map((r) =>
              r === entry
                ? create(ReactionSchema, { emoji: r.emoji, userIds: r.userIds.filter((u) => u !== me) })
                : r,
            )
            .filter((r) => r.userIds.length > 0);
      return create(MessageSchema, { ...message, reactions });
    }
    default:
      return message;
  }
}

/** The optimistic message of a send still in the outbox. */
export function pendingMessage(item: OutboxItem, me: string): Message {
  if (item.op.kind !== "send") throw new Error("unable to build a pending message; the item is not a send");
  const a = item.op.attachment;
  return create(MessageSchema, {
    conversationId: item.conversationId,
    seq: 0,
    messageId: "",
    senderId: me,
    clientMsgId: item.id,
    text: item.op.text,
    replyToSeq: item.op.replyToSeq,
    attachment: a
      ? create(AttachmentSchema, {
          url: a.url,
          contentType: a.contentType,
          name: a.name ?? "",
          sizeBytes: BigInt(a.sizeBytes ?? 0),
        })
      : undefined,
    createdAt: timestampFromMs(item.createdAt),
  });
}

function pendingOverlays(items: readonly OutboxItem[]): OutboxItem[] {
  return items.filter((i) => i.status === "pending" && i.op.kind !== "send" && i.op.kind !== "markRead");
}

function withOverlays(message: Message, overlays: readonly OutboxItem[], me: string): Message {
  let result = message;
  for (const item of overlays) {
    const op = item.op;
    if ("target" in op && targets(op.target, message)) result = overlay(result, item, me);
  }
  return result;
}

/** One confirmed message as the user sees it (pending changes applied), in or out of the window. */
export function confirmedMessage(state: ClientState, message: Message, me: string): LocalMessage {
  const items = sortedOutbox(state).filter((i) => i.conversationId === message.conversationId);
  return {
    message: withOverlays(message, pendingOverlays(items), me),
    status: messageStatus(state.conversations.get(message.conversationId), message, me),
  };
}

/**
 * The messages of a conversation as the user sees them: the cached window in
 * ascending seq with pending edits/deletes/reactions on top, then the sends still
 * in the outbox (pending or failed) in the order they were made.
 */
export function conversationMessages(state: ClientState, conversationId: string, me: string): LocalMessage[] {
  const conversation = state.conversations.get(conversationId);
  const window = state.messages.get(conversationId);
  const items = sortedOutbox(state).filter((i) => i.conversationId === conversationId);
  const overlays = pendingOverlays(items);
  const apply = (message: Message) => withOverlays(message, overlays, me);
  const confirmed = window ? [...window.values()].sort((a, b) => a.seq - b.seq) : [];
  const confirmedClientIds = new Set(confirmed.map((m) => m.clientMsgId).filter((id) => id !== ""));
  const result: LocalMessage[] = confirmed.map((m) => ({
    message: apply(m),
    status: messageStatus(conversation, m, me),
  }));
  for (const item of items) {
    // A send whose message already arrived on the stream is shown once, as the confirmed message.
    if (item.op.kind !== "send" || confirmedClientIds.has(item.id)) continue;
    const local: LocalMessage =
      item.status === "failed"
        ? { message: apply(pendingMessage(item, me)), status: "failed", failure: item.failure }
        : { message: apply(pendingMessage(item, me)), status: "pending" };
    result.push(local);
  }
  return result;
}

/** The highest seq a pending or answered-but-unsaved markRead of the conversation asks for. */
export function pendingReadSeq(state: ClientState, conversationId: string): number {
  let seq = 0;
  for (const item of state.outbox.values()) {
    if (item.conversationId === conversationId && item.status === "pending" && item.op.kind === "markRead") {
      seq = Math.max(seq, item.op.seq);
    }
  }
  return seq;
}

/** The conversation as the user sees it: pending markRead items already lower its unread count. */
export function conversationView(state: ClientState, conversation: Conversation): Conversation {
  const pending = pendingReadSeq(state, conversation.conversationId);
  if (pending <= conversation.myReadSeq) return conversation;
  const myReadSeq = Math.min(pending, conversation.lastSeq);
  return create(ConversationSchema, {
    ...conversation,
    myReadSeq,
    unreadCount: Math.max(0, conversation.lastSeq - myReadSeq),
  });
}
