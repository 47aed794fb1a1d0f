import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConversationState, ConversationWrite, MemberState } from "@parley/history";
import {
  ConversationKind,
  ConversationUpdatedSchema,
  ConversationUpdateKind,
  ErrorReason,
  type Event,
  EventSchema,
  LIMITS,
  MemberRole,
  MembershipChangedSchema,
  MembershipChangeKind,
  type Message,
  MessageCreatedSchema,
  MessageSchema,
  MessageUpdatedSchema,
  MessageUpdateKind,
  ReactionSchema,
  ReceiptUpdatedSchema,
  ulid,
} from "@parley/protocol";
import {
  type Command,
  type CommandResult,
  CommandResultSchema,
  EmptySchema,
  type InboxRecord,
  InboxRecordSchema,
  ReceiptResultSchema,
} from "@parley/protocol/internal";
import { conversationView, findMember } from "./views.js";

/** A command refused by the conversation's rules; nothing was changed. */
export class CommandRejected extends Error {
  constructor(
    readonly reason: ErrorReason,
    message: string,
    readonly field = "",
  ) {
    super(message);
    this.name = "CommandRejected";
  }
}

/** What applying a command needs to read besides the conversation state. */
export interface ApplyContext {
  /**
   * The worker's clock. Changes to an existing conversation are stamped with
   * `max(now, state.updatedAtMs)`, so message times never decrease along seq.
   */
  now: number;
  getMessage(conversationId: string, seq: number): Promise<Message | undefined>;
}

/** The effects of one command: the write to commit (if anything changed), the result and the fan-out. */
export interface Applied {
  write?: ConversationWrite;
  result: CommandResult;
  fanout: InboxRecord[];
}

function reject(reason: ErrorReason, message: string, field = ""): never {
  throw new CommandRejected(reason, message, field);
}

const ADMIN_ROLES = new Set([MemberRole.ADMIN, MemberRole.OWNER]);

/**
 * Applies one command to a conversation's state, as the single owner of the
 * conversation's log partition does: checks the rules, assigns seq, and returns
 * the new state, the result and one event per affected user. Throws
 * {@link CommandRejected} when the command breaks a rule (nothing changes).
 */
export async function applyCommand(
  state: ConversationState | undefined,
  command: Command,
  ctx: ApplyContext,
): Promise<Applied> {
  const k = command.kind;
  if (k.case === "createDirect") return createDirect(state, command, k.value.peerUserId, ctx);
  if (k.case === "createGroup") return createGroup(state, command, k.value.title, k.value.memberIds, ctx);
  if (k.case === undefined) reject(ErrorReason.FIELD_REQUIRED, "unable to apply command; it has no kind");
  if (!state) {
    reject(
      ErrorReason.CONVERSATION_NOT_FOUND,
      `unable to ${describe(command)}; conversation ${command.conversationId} does not exist`,
      "conversation_id",
    );
  }
  const actor = findMember(state, command.actorId);
  if (!actor) {
    reject(
      ErrorReason.NOT_A_MEMBER,
      `unable to ${describe(command)}; ${command.actorId} is not a member of ${state.conversationId}`,
      "conversation_id",
    );
  }
  const op = new Op(state, command, ctx);
  switch (k.case) {
    case "addMembers":
      return op.addMembers(k.value.userIds);
    case "removeMember":
      return op.removeMember(k.value.userId);
    case "leave":
      return op.leave();
    case "rename":
      return op.rename(k.value.title);
    case "sendMessage":
      return op.send(k.value);
    case "editMessage":
      return op.edit(k.value.seq, k.value.text);
    case "deleteMessage":
      return op.remove(k.value.seq);
    case "addReaction":
      return op.react(k.value.seq, k.value.emoji, true);
    case "removeReaction":
      return op.react(k.value.seq, k.value.emoji, false);
    case "markDelivered":
      return op.receipt(k.value.seq, false);
    case "markRead":
      return op.receipt(k.value.seq, true);
  }
}

/** "send a message", "rename conversation", ... for error messages. */
export function describe(command: Command): string {
  switch (command.kind.case) {
    case "createDirect":
      return "create direct conversation";
    case "createGroup":
      return "create group";
    case "addMembers":
      return "add members";
    case "removeMember":
      return "remove member";
    case "leave":
      return "leave conversation";
    case "rename":
      return "rename conversation";
    case "sendMessage":
      return "send message";
    case "editMessage":
      return "edit message";
    case "deleteMessage":
      return "delete message";
    case "addReaction":
      return "add reaction";
    case "removeReaction":
      return "remove reaction";
    case "markDelivered":
      return "mark delivered";
    case "markRead":
      return "mark read";
    default:
      return "apply command";
  }
}

function event(conversationId: string, now: number, payload: Event["payload"]): Event {
  return create(EventSchema, { eventId: ulid(now), time: timestampFromMs(now), conversationId, payload });
}

function inbox(userId: string, ev: Event): InboxRecord {
  return create(InboxRecordSchema, { userId, event: ev });
}

function result(command: Command, outcome: CommandResult["outcome"]): CommandResult {
  return create(CommandResultSchema, { commandId: command.commandId, outcome });
}

function newMember(userId: string, role: MemberRole, now: number): MemberState {
  return { userId, role, deliveredSeq: 0, readSeq: 0, joinedAtMs: now };
}

function conversationCreated(state: ConversationState, command: Command, now: number): Applied {
  const fanout = state.members.map((m) =>
    inbox(
      m.userId,
      event(state.conversationId, now, {
        case: "conversationUpdated",
        value: create(ConversationUpdatedSchema, {
          kind: ConversationUpdateKind.CREATED,
          conversation: conversationView(state, m.userId),
          actorId: command.actorId,
        }),
      }),
    ),
  );
  return {
    write: {
      conversation: state,
      messages: [],
      addedUserIds: state.members.map((m) => m.userId),
      removedUserIds: [],
    },
    result: result(command, { case: "conversation", value: conversationView(state, command.actorId) }),
    fanout,
  };
}

function createDirect(
  state: ConversationState | undefined,
  command: Command,
  peer: string,
  ctx: ApplyContext,
): Applied {
  if (state) {
    if (!findMember(state, command.actorId)) {
      reject(
        ErrorReason.NOT_A_MEMBER,
        "unable to create direct conversation; not a member",
        "conversation_id",
      );
    }
    return {
      result: result(command, { case: "conversation", value: conversationView(state, command.actorId) }),
      fanout: [],
    };
  }
  const now = ctx.now;
  const created: ConversationState = {
    conversationId: command.conversationId,
    kind: ConversationKind.DIRECT,
    title: "",
    createdBy: command.actorId,
    createdAtMs: now,
    updatedAtMs: now,
    lastSeq: 0,
    members: [newMember(command.actorId, MemberRole.MEMBER, now), newMember(peer, MemberRole.MEMBER, now)],
  };
  return conversationCreated(created, command, now);
}

function createGroup(
  state: ConversationState | undefined,
  command: Command,
  title: string,
  memberIds: string[],
  ctx: ApplyContext,
): Applied {
  if (state) {
    // Same client id, same derived conversation id: the group already exists.
    return {
      result: result(command, { case: "conversation", value: conversationView(state, command.actorId) }),
      fanout: [],
    };
  }
  const now = ctx.now;
  const others = [...new Set(memberIds)].filter((id) => id !== command.actorId);
  if (others.length + 1 > LIMITS.maxGroupMembers) {
    reject(
      ErrorReason.GROUP_FULL,
      `unable to create group; at most ${LIMITS.maxGroupMembers} members`,
      "member_ids",
    );
  }
  const created: ConversationState = {
    conversationId: command.conversationId,
    kind: ConversationKind.GROUP,
    title,
    createdBy: command.actorId,
    createdAtMs: now,
    updatedAtMs: now,
    lastSeq: 0,
    members: [
      newMember(command.actorId, MemberRole.OWNER, now),
      ...others.map((id) => newMember(id, MemberRole.MEMBER, now)),
    ],
  };
  return conversationCreated(created, command, now);
}

/** One command against an existing conversation whose actor is a member. */
class Op {
  private readonly now: number;
  private readonly actorId: string;

  constructor(
    private readonly state: ConversationState,
    private readonly command: Command,
    private readonly ctx: ApplyContext,
  ) {
    // A conversation's clock never goes backwards, even when the worker's does (another
    // worker with a clock behind took the partition over, or NTP stepped back): every
    // change is stamped at least at the newest one so far. Sends set updatedAtMs to their
    // createdAt, so a new message's createdAt is at least the previous message's, which
    // history's time-anchored queries (beforeTime/afterTime) rely on.
    this.now = Math.max(ctx.now, state.updatedAtMs);
    this.actorId = command.actorId;
  }

  private get what(): string {
    return describe(this.command);
  }

  private requireGroupAdmin(): void {
    if (this.state.kind === ConversationKind.DIRECT) {
      reject(
        ErrorReason.DIRECT_CONVERSATION,
        `unable to ${this.what}; ${this.state.conversationId} is a direct conversation`,
      );
    }
    const me = findMember(this.state, this.actorId);
    if (!me || !ADMIN_ROLES.has(me.role)) {
      reject(ErrorReason.NOT_ADMIN, `unable to ${this.what}; only an owner or admin may do this`);
    }
  }

  private unchanged(): Applied {
    return { result: this.conversationResult(this.state), fanout: [] };
  }

  private conversationResult(state: ConversationState): CommandResult {
    return result(this.command, { case: "conversation", value: conversationView(state, this.actorId) });
  }

  private toAll(users: string[], payload: (userId: string) => Event["payload"]): InboxRecord[] {
    return users.map((u) => inbox(u, event(this.state.conversationId, this.now, payload(u))));
  }

  private membershipChange(
    next: ConversationState,
    kind: MembershipChangeKind,
    userIds: string[],
    removed: string[],
  ): Applied {
    const recipients = [...next.members.map((m) => m.userId), ...removed];
    const fanout = this.toAll(recipients, (u) => ({
      case: "membershipChanged",
      value: create(MembershipChangedSchema, {
        kind,
        userIds,
        actorId: this.actorId,
        conversation: findMember(next, u) ? conversationView(next, u) : undefined,
      }),
    }));
    return {
      write: {
        conversation: next,
        messages: [],
        addedUserIds: kind === MembershipChangeKind.ADDED ? userIds : [],
        removedUserIds: removed,
      },
      result:
        kind === MembershipChangeKind.LEFT
          ? result(this.command, { case: "done", value: create(EmptySchema) })
          : this.conversationResult(next),
      fanout,
    };
  }

  addMembers(userIds: string[]): Applied {
    this.requireGroupAdmin();
    const fresh = [...new Set(userIds)].filter((id) => !findMember(this.state, id));
    if (fresh.length === 0) return this.unchanged();
    if (this.state.members.length + fresh.length > LIMITS.maxGroupMembers) {
      reject(
        ErrorReason.GROUP_FULL,
        `unable to add members; at most ${LIMITS.maxGroupMembers} members`,
        "user_ids",
      );
    }
    const next: ConversationState = {
      ...this.state,
      updatedAtMs: this.now,
      members: [...this.state.members, ...fresh.map((id) => newMember(id, MemberRole.MEMBER, this.now))],
    };
    return this.membershipChange(next, MembershipChangeKind.ADDED, fresh, []);
  }

  removeMember(userId: string): Applied {
    this.requireGroupAdmin();
    const target = findMember(this.state, userId);
    if (!target) return this.unchanged();
    if (target.role === MemberRole.OWNER) {
      reject(ErrorReason.NOT_ADMIN, "unable to remove member; the owner cannot be removed", "user_id");
    }
    const next: ConversationState = {
      ...this.state,
      updatedAtMs: this.now,
      members: this.state.members.filter((m) => m.userId !== userId),
    };
    return this.membershipChange(next, MembershipChangeKind.REMOVED, [userId], [userId]);
  }

  leave(): Applied {
    if (this.state.kind === ConversationKind.DIRECT) {
      reject(
        ErrorReason.DIRECT_CONVERSATION,
        "unable to leave conversation; direct conversations cannot be left",
      );
    }
    const me = findMember(this.state, this.actorId);
    let members = this.state.members.filter((m) => m.userId !== this.actorId);
    const heir = members[0];
    if (me?.role === MemberRole.OWNER && heir && !members.some((m) => m.role === MemberRole.OWNER)) {
      members = members.map((m) => (m === heir ? { ...m, role: MemberRole.OWNER } : m));
    }
    const next: ConversationState = { ...this.state, updatedAtMs: this.now, members };
    return this.membershipChange(next, MembershipChangeKind.LEFT, [this.actorId], [this.actorId]);
  }

  rename(title: string): Applied {
    this.requireGroupAdmin();
    if (title === this.state.title) return this.unchanged();
    const next: ConversationState = { ...this.state, title, updatedAtMs: this.now };
    const fanout = this.toAll(
      next.members.map((m) => m.userId),
      (u) => ({
        case: "conversationUpdated",
        value: create(ConversationUpdatedSchema, {
          kind: ConversationUpdateKind.RENAMED,
          conversation: conversationView(next, u),
          actorId: this.actorId,
        }),
      }),
    );
    return {
      write: { conversation: next, messages: [], addedUserIds: [], removedUserIds: [] },
      result: this.conversationResult(next),
      fanout,
    };
  }

  send(req: {
    clientMsgId: string;
    text: string;
    replyToSeq: number;
    attachment?: Message["attachment"];
  }): Applied {
    if (req.replyToSeq > this.state.lastSeq) {
      reject(
        ErrorReason.SEQ_OUT_OF_RANGE,
        `unable to send message; reply_to_seq ${req.replyToSeq} is beyond the last seq ${this.state.lastSeq}`,
        "reply_to_seq",
      );
    }
    const seq = this.state.lastSeq + 1;
    const message = create(MessageSchema, {
      conversationId: this.state.conversationId,
      seq,
      messageId: ulid(this.now),
      senderId: this.actorId,
      clientMsgId: req.clientMsgId,
      text: req.text,
      replyToSeq: req.replyToSeq,
      attachment: req.attachment,
      createdAt: timestampFromMs(this.now),
    });
    const next: ConversationState = {
      ...this.state,
      lastSeq: seq,
      updatedAtMs: this.now,
      members: this.state.members.map((m) =>
        m.userId === this.actorId ? { ...m, deliveredSeq: seq, readSeq: seq } : m,
      ),
    };
    const created = event(this.state.conversationId, this.now, {
      case: "messageCreated",
      value: create(MessageCreatedSchema, { message }),
    });
    return {
      write: { conversation: next, messages: [message], addedUserIds: [], removedUserIds: [] },
      result: result(this.command, { case: "message", value: message }),
      fanout: next.members.map((m) => inbox(m.userId, created)),
    };
  }

  private async loadMessage(seq: number): Promise<Message> {
    const message =
      seq >= 1 && seq <= this.state.lastSeq
        ? await this.ctx.getMessage(this.state.conversationId, seq)
        : undefined;
    if (!message) {
      reject(
        ErrorReason.MESSAGE_NOT_FOUND,
        `unable to ${this.what}; no message ${seq} in ${this.state.conversationId}`,
        "seq",
      );
    }
    return message;
  }

  private messageUpdated(message: Message, kind: MessageUpdateKind, emoji = ""): Applied {
    const updated = event(this.state.conversationId, this.now, {
      case: "messageUpdated",
      value: create(MessageUpdatedSchema, { kind, message, actorId: this.actorId, emoji }),
    });
    return {
      write: { conversation: this.state, messages: [message], addedUserIds: [], removedUserIds: [] },
      result: result(this.command, { case: "message", value: message }),
      fanout: this.state.members.map((m) => inbox(m.userId, updated)),
    };
  }

  private async ownMessage(seq: number): Promise<Message> {
    const message = await this.loadMessage(seq);
    if (message.senderId !== this.actorId) {
      reject(ErrorReason.NOT_AUTHOR, `unable to ${this.what}; only the author may do this`, "seq");
    }
    return message;
  }

  async edit(seq: number, text: string): Promise<Applied> {
    const message = await this.ownMessage(seq);
    if (message.deletedAt)
      reject(ErrorReason.MESSAGE_DELETED, `unable to edit message; message ${seq} was deleted`, "seq");
    const next = create(MessageSchema, { ...message, text, editedAt: timestampFromMs(this.now) });
    return this.messageUpdated(next, MessageUpdateKind.EDITED);
  }

  async remove(seq: number): Promise<Applied> {
    const message = await this.ownMessage(seq);
    if (message.deletedAt)
      return { result: result(this.command, { case: "message", value: message }), fanout: [] };
    const next = create(MessageSchema, {
      ...message,
      text: "",
      attachment: undefined,
      reactions: [],
      deletedAt: timestampFromMs(this.now),
    });
    return this.messageUpdated(next, MessageUpdateKind.DELETED);
  }

  async react(seq: number, emoji: string, add: boolean): Promise<Applied> {
    const message = await this.loadMessage(seq);
    if (message.deletedAt)
      reject(ErrorReason.MESSAGE_DELETED, `unable to ${this.what}; message ${seq} was deleted`, "seq");
    const entry = message.reactions.find((r) => r.emoji === emoji);
    const has = entry?.userIds.includes(this.actorId) ?? false;
    if (has === add) return { result: result(this.command, { case: "message", value: message }), fanout: [] };
    const reactions = add
      ? entry
        ? message.reactions.map((r) =>
            r === entry ? create(ReactionSchema, { emoji, userIds: [...r.userIds, this.actorId] }) : r,
          )
        : [...message.reactions, create(ReactionSchema, { emoji, userIds: [this.actorId] })]
      : message.reactions
          .map((r) =>
            r === entry
              ? create(ReactionSchema, { emoji, userIds: r.userIds.filter((u) => u !== this.actorId) })
              : r,
          )
          .filter((r) => r.userIds.length > 0);
    const next = create(MessageSchema, { ...message, reactions });
    return this.messageUpdated(
      next,
      add ? MessageUpdateKind.REACTION_ADDED : MessageUpdateKind.REACTION_REMOVED,
      emoji,
    );
  }

  receipt(seq: number, read: boolean): Applied {
    if (seq > this.state.lastSeq) {
      reject(
        ErrorReason.SEQ_OUT_OF_RANGE,
        `unable to ${this.what}; seq ${seq} is beyond the last seq ${this.state.lastSeq}`,
        "seq",
      );
    }
    const me = findMember(this.state, this.actorId) as MemberState;
    const readSeq = read ? Math.max(me.readSeq, seq) : me.readSeq;
    const deliveredSeq = Math.max(me.deliveredSeq, read ? readSeq : seq);
    const receipt = create(ReceiptResultSchema, {
      deliveredSeq,
      readSeq,
      unreadCount: Math.max(0, this.state.lastSeq - readSeq),
    });
    const res = result(this.command, { case: "receipt", value: receipt });
    if (readSeq === me.readSeq && deliveredSeq === me.deliveredSeq) return { result: res, fanout: [] };
    const next: ConversationState = {
      ...this.state,
      members: this.state.members.map((m) => (m === me ? { ...m, readSeq, deliveredSeq } : m)),
    };
    const updated = event(this.state.conversationId, this.now, {
      case: "receiptUpdated",
      value: create(ReceiptUpdatedSchema, { userId: this.actorId, deliveredSeq, readSeq }),
    });
    return {
      write: { conversation: next, messages: [], addedUserIds: [], removedUserIds: [] },
      result: res,
      fanout: next.members.map((m) => inbox(m.userId, updated)),
    };
  }
}
