import type { Conversation, Message } from "@parley/protocol";
import type { OutboxItem, StoreBatch, StoredState } from "./store/port.js";

/**
 * What one client instance holds in memory: a mirror of its store's sync state
 * (cursor, conversations, outbox) plus a window of cached messages. It changes
 * only through {@link applyBatch}, on the leader right after its own store writes
 * and on followers when the leader broadcasts those writes, so all instances
 * of one user stay in step.
 */
export interface ClientState {
  cursor: string;
  readonly conversations: Map<string, Conversation>;
  /**
   * Conversation id → seq → message: the in-memory window, one run of seqs up to
   * the newest (it may miss newer messages still on their way, never older ones
   * in the middle). See {@link applyBatch}.
   */
  readonly messages: Map<string, Map<number, Message>>;
  readonly outbox: Map<string, OutboxItem>;
  readonly meta: Map<string, string>;
}

/** A member's receipt watermarks that moved. */
export interface ReceiptChange {
  readonly conversationId: string;
  readonly userId: string;
  readonly deliveredSeq: number;
  readonly readSeq: number;
}

/** What {@link applyBatch} changed, for events and view caches. */
export interface StateChanges {
  readonly reset: boolean;
  /** Conversations put, with what was there before (undefined when new). */
  readonly conversations: { readonly next: Conversation; readonly previous: Conversation | undefined }[];
  readonly removedConversations: string[];
  /** Every message written, also those left out of the in-memory window. */
  readonly messages: Message[];
  readonly outboxPut: { readonly next: OutboxItem; readonly previous: OutboxItem | undefined }[];
  readonly outboxRemoved: OutboxItem[];
  readonly receipts: ReceiptChange[];
  /** Every conversation id touched in any way. */
  readonly touched: Set<string>;
}

/** An empty state. */
export function emptyState(): ClientState {
  return {
    cursor: "",
    conversations: new Map(),
    messages: new Map(),
    outbox: new Map(),
    meta: new Map(),
  };
}

/** Fills `state` from what a store loaded (messages come separately through {@link applyBatch}). */
export function loadState(state: ClientState, stored: StoredState): void {
  state.cursor = stored.cursor;
  state.conversations.clear();
  state.messages.clear();
  state.outbox.clear();
  state.meta.clear();
  for (const c of stored.conversations) state.conversations.set(c.conversationId, c);
  for (const item of stored.outbox) state.outbox.set(item.id, item);
  for (const [k, v] of Object.entries(stored.meta)) state.meta.set(k, v);
}

function receiptChanges(previous: Conversation | undefined, next: Conversation): ReceiptChange[] {
  const changes: ReceiptChange[] = [];
  for (const member of next.members) {
    const before = previous?.members.find((m) => m.userId === member.userId);
    if (before && before.deliveredSeq === member.deliveredSeq && before.readSeq === member.readSeq) continue;
    if (!before && member.deliveredSeq === 0 && member.readSeq === 0) continue;
    changes.push({
      conversationId: next.conversationId,
      userId: member.userId,
      deliveredSeq: member.deliveredSeq,
      readSeq: member.readSeq,
    });
  }
  return changes;
}

/**
 * Applies a store batch to the in-memory state, in the order stores apply it:
 * reset, cursor, deleted conversations, conversations, messages, deleted outbox
 * items, outbox items, meta. The one place in-memory state changes.
 *
 * Messages join the in-memory window only where it stays one run: a message
 * older than the window's oldest joins only when it extends it downwards without
 * a hole (an update of an old message, e.g. a reaction, is stored but not shown
 * in the window; history() reads it from the store).
 */
export function applyBatch(state: ClientState, batch: StoreBatch): StateChanges {
  const changes: StateChanges = {
    reset: batch.reset === true,
    conversations: [],
    removedConversations: [],
    messages: [],
    outboxPut: [],
    outboxRemoved: [],
    receipts: [],
    touched: new Set(),
  };
  if (batch.reset) {
    state.cursor = "";
    state.conversations.clear();
    state.messages.clear();
  }
  if (batch.cursor !== undefined) state.cursor = batch.cursor;
  for (const id of batch.deleteConversations ?? []) {
    const existed = state.conversations.delete(id);
    state.messages.delete(id);
    if (existed) {
      changes.removedConversations.push(id);
      changes.touched.add(id);
    }
  }
  for (const next of batch.conversations ?? []) {
    const previous = batch.reset ? undefined : state.conversations.get(next.conversationId);
    state.conversations.set(next.conversationId, next);
    changes.conversations.push({ next, previous });
    if (!batch.reset) changes.receipts.push(...receiptChanges(previous, next));
    changes.touched.add(next.conversationId);
  }
  // Newest first, so a run reaching down from a window's oldest message joins it message by message.
  const lowest = new Map<string, number>();
  for (const message of [...(batch.messages ?? [])].sort((a, b) => b.seq - a.seq)) {
    const id = message.conversationId;
    let window = state.messages.get(id);
    if (!window) {
      window = new Map();
      state.messages.set(id, window);
    }
    changes.messages.push(message);
    changes.touched.add(id);
    let oldest = lowest.get(id);
    if (oldest === undefined) {
      oldest = oldestSeq(window);
      lowest.set(id, oldest);
    }
    // The window stays one run: a message older than it joins only right below its oldest one
    // (the store keeps every message; history() reads the rest).
    if (window.size > 0 && !window.has(message.seq) && message.seq < oldest - 1) continue;
    window.set(message.seq, message);
    if (message.seq < oldest) lowest.set(id, message.seq);
  }
  for (const id of batch.deleteOutbox ?? []) {
    const item = state.outbox.get(id);
    if (!item) continue;
    state.outbox.delete(id);
    changes.outboxRemoved.push(item);
    changes.touched.add(item.conversationId);
  }
  for (const next of batch.outbox ?? []) {
    const previous = state.outbox.get(next.id);
    state.outbox.set(next.id, next);
    changes.outboxPut.push({ next, previous });
    changes.touched.add(next.conversationId);
  }
  for (const [k, v] of Object.entries(batch.meta ?? {})) state.meta.set(k, v);
  return changes;
}

/** The lowest seq of a window (Infinity when it is empty). */
export function oldestSeq(window: ReadonlyMap<number, unknown>): number {
  let oldest = Number.POSITIVE_INFINITY;
  for (const seq of window.keys()) if (seq < oldest) oldest = seq;
  return oldest;
}

/** The outbox in id (creation) order. */
export function sortedOutbox(state: ClientState): OutboxItem[] {
  return [...state.outbox.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
