import type { ConversationKind, MemberRole, Message } from "@parley/protocol";

/** A member of a conversation as stored: role and receipt watermarks. */
export interface MemberState {
  userId: string;
  role: MemberRole;
  /** Highest seq delivered to any of the member's devices. Invariant: readSeq <= deliveredSeq <= lastSeq. */
  deliveredSeq: number;
  /** Highest seq the member has read. */
  readSeq: number;
  joinedAtMs: number;
}

/** The authoritative state of one conversation, written only by the owner of its log partition. */
export interface ConversationState {
  conversationId: string;
  kind: ConversationKind;
  /** Group title; empty for direct conversations. */
  title: string;
  createdBy: string;
  createdAtMs: number;
  /** Time of the newest change. */
  updatedAtMs: number;
  /** Seq of the newest message; 0 when there is none. */
  lastSeq: number;
  /** Current members, in join order. Former members are not listed. */
  members: MemberState[];
}

/** The remembered outcome of a client mutation, so a retry returns the original result. */
export interface DedupEntry {
  /** The client-generated id. */
  clientId: string;
  /** Opaque encoded result (the router stores the serialized reply). */
  result: Uint8Array;
  createdAtMs: number;
}

/** Everything one command changes in one conversation, committed as a unit. */
export interface ConversationWrite {
  /** The conversation's full state after the command (upserted). */
  conversation: ConversationState;
  /** Messages created or changed (upserted by seq). */
  messages: Message[];
  /** The dedup entry for the command's client id, if it has one. */
  dedup?: DedupEntry;
  /** Users who became members (added to their conversation lists). */
  addedUserIds: string[];
  /** Users who stopped being members (removed from their conversation lists). */
  removedUserIds: string[];
}

/**
 * Which page of history to read. Results are always in ascending seq order. The time
 * queries (`beforeTime`, `afterTime`: messages created before / at or after `timeMs`)
 * rely on `createdAt` never decreasing along seq within a conversation, which the
 * writer guarantees (the router's worker stamps a message at least at the previous one).
 */
export type HistoryQuery =
  | { kind: "latest"; limit: number }
  | { kind: "before"; seq: number; limit: number }
  | { kind: "after"; seq: number; limit: number }
  | { kind: "beforeTime"; timeMs: number; limit: number }
  | { kind: "afterTime"; timeMs: number; limit: number };

/** One durable event in a user's event stream. */
export interface UserEvent {
  /** Position in the user's stream: 1, 2, 3 ... assigned by the store on append. */
  position: number;
  /** Unique id of the event; appending an id already stored is a no-op. */
  eventId: string;
  /** Serialized `parley.v1.Event` (without its cursor). */
  payload: Uint8Array;
  timeMs: number;
}

/** An event to append to a user's stream. */
export type NewUserEvent = Omit<UserEvent, "position">;

/** A page read from a user's event stream. */
export interface UserEventPage {
  /** Events with position > the requested one, ascending. */
  events: UserEvent[];
  /**
   * The oldest position a reader may resume from: events at or below it were
   * pruned. A cursor below `horizon` must resync.
   */
  horizon: number;
  /** Position of the newest stored event (0 when none). */
  last: number;
}

/**
 * Durable history: conversations, messages, dedup records and per-user event
 * streams. Implementations: SQLite (`createSqliteHistoryStore`), Cassandra
 * (`@parley/history-cassandra`). All must pass `describeHistoryStore` from
 * `@parley/testkit`.
 *
 * Concurrency contract: writes to one conversation come from one writer at a time
 * (the owner of its log partition), and appends to one user's events from one
 * writer at a time (the owner of the user's inbox partition).
 */
export interface HistoryStore {
  /** The conversation's state, or undefined when it does not exist. */
  getConversation(conversationId: string): Promise<ConversationState | undefined>;
  /**
   * Ids of the conversations the user is a member of (any order). The one read that may
   * run ahead of or behind a commit (see {@link HistoryStore.commit}): it can list a
   * conversation whose state does not (yet, or any more) have the user as a member, so
   * callers check membership in the state they read.
   */
  listUserConversations(userId: string): Promise<string[]>;
  /**
   * Applies one command's effects: the conversation state, its messages, the dedup
   * entry and the users' conversation lists.
   *
   * Nothing or everything becomes visible: once `commit` resolves, every read (by this
   * or any other process) sees all of the write; if it rejects, or the process dies
   * during it, reads see either none of it or all of it, never a part: never the new
   * state without its messages or without its dedup entry, never a message above the
   * state's `lastSeq` (only {@link HistoryStore.listUserConversations} may be early or
   * late). The writer must not assume which: a retry of the same command
   * asks {@link HistoryStore.getDedup} first, and finds the entry exactly when the rest
   * of the write is visible. SQLite commits one transaction; Cassandra writes a commit
   * record with the state in one single-partition batch (the commit point) and finishes
   * the other tables from it afterwards, with readers overlaying what is not finished.
   *
   * Rejects if the write cannot be made durable; a committed write is never lost.
   */
  commit(write: ConversationWrite): Promise<void>;
  /**
   * The remembered result of a client mutation in a conversation, or undefined when
   * the mutation was never committed.
   *
   * This may write: when an earlier commit of the conversation was interrupted after
   * its commit point (the process died before finishing it), `getDedup` finishes it
   * first (Cassandra), so the entry it returns belongs to a write that is then fully
   * stored. It is therefore a call for the conversation's single writer (the worker
   * that owns its partition), made before applying each command.
   */
  getDedup(conversationId: string, clientId: string): Promise<DedupEntry | undefined>;
  /** One message by seq. */
  getMessage(conversationId: string, seq: number): Promise<Message | undefined>;
  /** A page of messages, ascending by seq, at most `query.limit` long. */
  getMessages(conversationId: string, query: HistoryQuery): Promise<Message[]>;
  /**
   * Appends events to a user's stream in order, skipping any whose eventId is
   * already stored, and returns the events actually appended with positions.
   */
  appendUserEvents(userId: string, events: NewUserEvent[]): Promise<UserEvent[]>;
  /** Up to `limit` events after `afterPosition`, with the stream's horizon. */
  readUserEvents(userId: string, afterPosition: number, limit: number): Promise<UserEventPage>;
  /** Releases connections and files. */
  close(): Promise<void>;
}
