import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConversationState, MemberState } from "@parley/history";
import {
  type Conversation,
  ConversationSchema,
  type Member,
  MemberSchema,
  type Message,
} from "@parley/protocol";

/** A stored member as the wire `Member`. */
export function memberView(member: MemberState): Member {
  return create(MemberSchema, {
    userId: member.userId,
    role: member.role,
    deliveredSeq: member.deliveredSeq,
    readSeq: member.readSeq,
    joinedAt: timestampFromMs(member.joinedAtMs),
  });
}

/** The member entry of `userId`, if they are a member. */
export function findMember(state: ConversationState, userId: string): MemberState | undefined {
  return state.members.find((m) => m.userId === userId);
}

/**
 * A conversation as `userId` sees it: their read watermark and unread count,
 * plus the newest message when the caller has it at hand.
 */
export function conversationView(
  state: ConversationState,
  userId: string,
  lastMessage?: Message,
): Conversation {
  const me = findMember(state, userId);
  const myReadSeq = me?.readSeq ?? 0;
  return create(ConversationSchema, {
    conversationId: state.conversationId,
    kind: state.kind,
    title: state.title,
    members: state.members.map(memberView),
    lastSeq: state.lastSeq,
    lastMessage: lastMessage && lastMessage.seq === state.lastSeq ? lastMessage : undefined,
    myReadSeq,
    unreadCount: Math.max(0, state.lastSeq - myReadSeq),
    createdAt: timestampFromMs(state.createdAtMs),
    updatedAt: timestampFromMs(state.updatedAtMs),
    createdBy: state.createdBy,
  });
}
