import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Conversation, ConversationSchema, MemberSchema, type Message } from "@parley/protocol";

/**
 * Pure changes to cached conversations, mirroring what the server does, so the
 * cache matches GetConversation without asking. Inputs are never mutated.
 */

/** The conversation after `message` was created in it (the sender has read up to it). */
export function withMessage(conversation: Conversation, message: Message, me: string): Conversation {
  const seq = message.seq;
  const newest = seq >= conversation.lastSeq;
  const lastSeq = Math.max(conversation.lastSeq, seq);
  const members = conversation.members.map((m) =>
    m.userId === message.senderId && (m.deliveredSeq < seq || m.readSeq < seq)
      ? create(MemberSchema, {
          ...m,
          deliveredSeq: Math.max(m.deliveredSeq, seq),
          readSeq: Math.max(m.readSeq, seq),
        })
      : m,
  );
  const myReadSeq = message.senderId === me ? Math.max(conversation.myReadSeq, seq) : conversation.myReadSeq;
  const updatedAt =
    newest &&
    message.createdAt &&
    (!conversation.updatedAt || timestampMs(message.createdAt) > timestampMs(conversation.updatedAt))
      ? message.createdAt
      : conversation.updatedAt;
  return create(ConversationSchema, {
    ...conversation,
    members,
    lastSeq,
    lastMessage: newest ? message : conversation.lastMessage,
    myReadSeq,
    unreadCount: Math.max(0, lastSeq - myReadSeq),
    updatedAt,
  });
}

/** The conversation with `message` (an updated state) as its last message, when it is the newest. */
export function withUpdatedMessage(conversation: Conversation, message: Message): Conversation {
  if (message.seq !== conversation.lastSeq) return conversation;
  return create(ConversationSchema, { ...conversation, lastMessage: message });
}

/**
 * The conversation after a member's watermarks rose (merged with max, like the
 * server), never above its newest cached seq: a unary answer may carry
 * watermarks another device of mine raised beyond the messages this device's
 * stream brought so far; the stream brings that rise again after those messages.
 */
export function withReceipt(
  conversation: Conversation,
  userId: string,
  deliveredSeq: number,
  readSeq: number,
  me: string,
): Conversation {
  const last = conversation.lastSeq;
  readSeq = Math.min(readSeq, last);
  deliveredSeq = Math.min(deliveredSeq, last);
  let changed = false;
  const members = conversation.members.map((m) => {
    if (m.userId !== userId) return m;
    const read = Math.max(m.readSeq, readSeq);
    const delivered = Math.max(m.deliveredSeq, deliveredSeq, read);
    if (read === m.readSeq && delivered === m.deliveredSeq) return m;
    changed = true;
    return create(MemberSchema, { ...m, deliveredSeq: delivered, readSeq: read });
  });
  const myReadSeq = userId === me ? Math.max(conversation.myReadSeq, readSeq) : conversation.myReadSeq;
  if (!changed && myReadSeq === conversation.myReadSeq) return conversation;
  return create(ConversationSchema, {
    ...conversation,
    members,
    myReadSeq,
    unreadCount: Math.max(0, conversation.lastSeq - myReadSeq),
  });
}

/**
 * A conversation from the server (an event, a unary answer) merged with what is
 * cached. The server's state wins (title, members, roles), except for what only
 * grows: the newest seq and its message, the receipt watermarks of a membership
 * (same member, same join time) and the update time are never lowered, since the
 * incoming state may be older than the cache (an event replayed after a snapshot).
 * A last message the incoming state left out is kept when it is still the newest.
 */
export function mergeConversation(incoming: Conversation, cached: Conversation | undefined): Conversation {
  if (!cached) return incoming;
  let changed = false;
  const members = incoming.members.map((m) => {
    const before = cached.members.find((c) => c.userId === m.userId && sameTime(c.joinedAt, m.joinedAt));
    if (!before || (before.deliveredSeq <= m.deliveredSeq && before.readSeq <= m.readSeq)) return m;
    changed = true;
    return create(MemberSchema, {
      ...m,
      deliveredSeq: Math.max(m.deliveredSeq, before.deliveredSeq),
      readSeq: Math.max(m.readSeq, before.readSeq),
    });
  });
  const lastSeq = Math.max(incoming.lastSeq, cached.lastSeq);
  const myReadSeq = Math.max(incoming.myReadSeq, cached.myReadSeq);
  const incomingLast = incoming.lastMessage?.seq ?? 0;
  const keepLast =
    cached.lastMessage !== undefined && cached.lastMessage.seq === lastSeq && incomingLast < lastSeq;
  const newer =
    (cached.updatedAt ? timestampMs(cached.updatedAt) : 0) >
    (incoming.updatedAt ? timestampMs(incoming.updatedAt) : 0);
  if (!changed && !keepLast && !newer && lastSeq === incoming.lastSeq && myReadSeq === incoming.myReadSeq) {
    return incoming;
  }
  return create(ConversationSchema, {
    ...incoming,
    members,
    lastSeq,
    lastMessage: keepLast ? cached.lastMessage : incoming.lastMessage,
    myReadSeq,
    unreadCount: Math.max(0, lastSeq - myReadSeq),
    updatedAt: newer ? cached.updatedAt : incoming.updatedAt,
  });
}

function sameTime(a: Timestamp | undefined, b: Timestamp | undefined): boolean {
  return (a ? timestampMs(a) : 0) === (b ? timestampMs(b) : 0);
}

/** Newest activity first, ties by id (like ListConversations). */
export function byActivity(a: Conversation, b: Conversation): number {
  const ta = a.updatedAt ? timestampMs(a.updatedAt) : 0;
  const tb = b.updatedAt ? timestampMs(b.updatedAt) : 0;
  return tb - ta || (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0);
}
