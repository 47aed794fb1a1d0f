import type { Message } from "@parley/protocol";
import type { ClientStore } from "./store/port.js";

/** Which page of history to read; at most one anchor. */
export interface HistoryQuery {
  /** Messages with seq below this. */
  readonly before?: number;
  /** Messages with seq above this. */
  readonly after?: number;
  /** Messages around this seq, including it. */
  readonly around?: number;
  /** Page size, 1-200. @defaultValue 50 */
  readonly limit?: number;
}

/** A page of history, ascending by seq. */
export interface HistoryPage {
  readonly messages: Message[];
  /** True when older messages exist. */
  readonly hasMoreBefore: boolean;
  /** True when newer messages exist. */
  readonly hasMoreAfter: boolean;
  /** "cache" when the store answered it fully; "network" when GetHistory did. */
  readonly source: "cache" | "network";
}

/** Page size when the query gives none. */
export const HISTORY_DEFAULT_LIMIT = 50;
/** Largest page size (larger limits are lowered to it). */
export const HISTORY_MAX_LIMIT = 200;

function contiguous(messages: readonly Message[]): boolean {
  for (let i = 1; i < messages.length; i++) {
    if ((messages[i] as Message).seq !== (messages[i - 1] as Message).seq + 1) return false;
  }
  return true;
}

/**
 * The page from the store alone, when the cache holds a contiguous run that
 * answers the query fully (enough messages, or reaching seq 1 / `lastSeq`); else
 * undefined. `lastSeq` is the conversation's newest seq as cached.
 */
export async function historyFromCache(
  store: ClientStore,
  conversationId: string,
  query: HistoryQuery,
  limit: number,
  lastSeq: number,
): Promise<HistoryPage | undefined> {
  const page = (messages: Message[]): HistoryPage => {
    const first = messages[0]?.seq;
    const last = messages[messages.length - 1]?.seq;
    return {
      messages,
      hasMoreBefore: first !== undefined ? first > 1 : false,
      hasMoreAfter: last !== undefined ? last < lastSeq : false,
      source: "cache",
    };
  };
  /** Newest `count` messages with seq <= `maxSeq`: complete when contiguous, ending at maxSeq, and full or from 1. */
  const below = async (maxSeq: number, count: number): Promise<Message[] | undefined> => {
    if (maxSeq < 1 || count === 0) return [];
    const messages = await store.messages(conversationId, { maxSeq, limit: count, from: "newest" });
    const first = messages[0];
    if (!first || messages[messages.length - 1]?.seq !== maxSeq || !contiguous(messages)) return undefined;
    return messages.length === count || first.seq === 1 ? messages : undefined;
  };
  /** Oldest `count` messages with seq >= `minSeq`: complete when contiguous, from minSeq, and full or to lastSeq. */
  const above = async (minSeq: number, count: number): Promise<Message[] | undefined> => {
    if (minSeq > lastSeq || count === 0) return [];
    const messages = await store.messages(conversationId, { minSeq, limit: count, from: "oldest" });
    const last = messages[messages.length - 1];
    if (!last || messages[0]?.seq !== minSeq || !contiguous(messages)) return undefined;
    return messages.length === count || last.seq === lastSeq ? messages : undefined;
  };

  if (query.before !== undefined) {
    const messages = await below(Math.min(query.before - 1, lastSeq), limit);
    if (!messages) return undefined;
    const result = page(messages);
    return messages.length === 0 ? { ...result, hasMoreAfter: query.before <= lastSeq } : result;
  }
  if (query.after !== undefined) {
    const messages = await above(query.after + 1, limit);
    if (!messages) return undefined;
    const result = page(messages);
    return messages.length === 0 ? { ...result, hasMoreBefore: lastSeq > 0 && query.after >= 1 } : result;
  }
  if (query.around !== undefined) {
    const around = Math.min(query.around, lastSeq);
    const older = await below(around - 1, Math.floor((limit - 1) / 2));
    if (!older) return undefined;
    const newer = await above(Math.max(around, 1), limit - older.length);
    if (!newer) return undefined;
    return page([...older, ...newer]);
  }
  const messages = await below(lastSeq, limit);
  return messages && page(messages);
}
