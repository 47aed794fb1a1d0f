import type { Conversation, Message } from "@parley/protocol";

/**
 * What an outbox item asks the server to do. Edits, deletes and reactions name
 * their message by seq, or by the client id of a send still in the outbox (the
 * seq is filled in once that send is acknowledged).
 */
export type OutboxOp =
  | {
      readonly kind: "send";
      readonly text: string;
      /** Seq of the message replied to, or 0. */
      readonly replyToSeq: number;
      readonly attachment?: AttachmentInput;
    }
  | { readonly kind: "edit"; readonly target: MessageTarget; readonly text: string }
  | { readonly kind: "delete"; readonly target: MessageTarget }
  | { readonly kind: "react"; readonly target: MessageTarget; readonly emoji: string; readonly add: boolean }
  | { readonly kind: "markRead"; readonly seq: number };

/** A message named by its seq, or by the client id of a send that has no seq yet. */
export type MessageTarget = { readonly seq: number } | { readonly clientMsgId: string };

/** An attachment reference as the app gives it (plain JSON, so every store can keep it). */
export interface AttachmentInput {
  /** Where the file can be fetched, e.g. an https URL or an object-store key. */
  readonly url: string;
  /** MIME type, e.g. "image/png". */
  readonly contentType: string;
  readonly name?: string;
  readonly sizeBytes?: number;
}

/** Why an outbox item failed for good. */
export interface OutboxFailure {
  /** A {@link ParleyErrorReason}, e.g. "NOT_A_MEMBER". */
  readonly reason: string;
  readonly message: string;
}

/**
 * One mutation waiting for the server. It is written to the store before it is
 * sent and deleted once the server has answered it.
 */
export interface OutboxItem {
  /**
   * The client id sent with the mutation (a ULID; for sends it is the
   * `client_msg_id`). ULIDs sort by creation, which is the outbox order.
   */
  readonly id: string;
  readonly conversationId: string;
  readonly op: OutboxOp;
  /** When the app asked for it, in ms since the epoch. */
  readonly createdAt: number;
  /** "pending" until answered; "failed" after a terminal error (the app may retry or discard it). */
  readonly status: "pending" | "failed";
  /** How many times it was sent. */
  readonly attempts: number;
  /** Set when status is "failed". */
  readonly failure?: OutboxFailure;
}

/** Everything a store holds except messages, read once when a client starts. */
export interface StoredState {
  /** The sync cursor to resume from; "" when the device has never synced. */
  readonly cursor: string;
  readonly conversations: readonly Conversation[];
  /** Every outbox item, pending and failed, in id order. */
  readonly outbox: readonly OutboxItem[];
  /** Small values the client keeps (e.g. its device id). */
  readonly meta: Readonly<Record<string, string>>;
}

/**
 * A set of changes a store applies all together or not at all, in this order:
 * reset, cursor, deleteConversations, conversations, messages, deleteOutbox,
 * outbox, meta (deletes before puts). A batch holding a message that cannot be
 * keyed (no `conversation_id`, or `seq` below 1) is rejected whole.
 */
export interface StoreBatch {
  /**
   * Deletes the cursor, every conversation and every message before the rest of
   * the batch is applied (a resync). The outbox and meta are kept.
   */
  readonly reset?: boolean;
  /** The new sync cursor. */
  readonly cursor?: string;
  /** Put by `conversation_id` (replacing what was there). */
  readonly conversations?: readonly Conversation[];
  /** Deleted with their messages. */
  readonly deleteConversations?: readonly string[];
  /** Put by (`conversation_id`, `seq`), replacing what was there. */
  readonly messages?: readonly Message[];
  /** Put by id. */
  readonly outbox?: readonly OutboxItem[];
  /** Outbox ids to delete. */
  readonly deleteOutbox?: readonly string[];
  /** Meta values to set. */
  readonly meta?: Readonly<Record<string, string>>;
}

/** Which cached messages of one conversation to read. */
export interface MessageQuery {
  /** Lowest seq included. @defaultValue 1 */
  readonly minSeq?: number;
  /** Highest seq included. @defaultValue no bound */
  readonly maxSeq?: number;
  /** At most this many messages. */
  readonly limit: number;
  /** Which end of the range to take `limit` messages from. */
  readonly from: "newest" | "oldest";
}

/**
 * Where a client keeps its state between runs: the sync cursor, a cache of
 * conversations and messages, and the outbox. Implementations: memory
 * (`@parley/client`), IndexedDB (`@parley/client-web`), files
 * (`@parley/client-node`); all pass the `clientStoreCases` of
 * `@parley/client/testing`.
 *
 * A store is used by one client at a time per user; in browsers every tab
 * opens the same IndexedDB database, and only the leader tab writes the sync
 * state, while any tab may write outbox items.
 */
export interface ClientStore {
  /** Reads everything except messages. */
  load(): Promise<StoredState>;
  /** Applies a batch atomically and durably: once it resolves, the batch survives a crash or reload. */
  write(batch: StoreBatch): Promise<void>;
  /** Cached messages of a conversation, ascending by seq. */
  messages(conversationId: string, query: MessageQuery): Promise<Message[]>;
  /** Releases the store; further calls reject. Calling it again does nothing. */
  close(): Promise<void>;
}
