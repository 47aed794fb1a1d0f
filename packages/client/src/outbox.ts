import { create } from "@bufbuild/protobuf";
import { AttachmentSchema, type Message } from "@parley/protocol";
import { backoffDelay, interruptibleSleep } from "./backoff.js";
import { type Core, messageKey } from "./core.js";
import { ParleyError, toParleyError } from "./errors.js";
import { withMessage, withReceipt, withUpdatedMessage } from "./reduce.js";
import { type ClientState, sortedOutbox } from "./state.js";
import type { OutboxItem, StoreBatch } from "./store/port.js";
import { acknowledgeSend } from "./sync.js";

/** Reasons that are the client's problem, not the item's: the item stays pending. */
const FATAL = new Set(["TOKEN_INVALID", "TOKEN_MISSING"]);

type Answer =
  | { readonly kind: "message"; readonly message: Message }
  | { readonly kind: "receipt"; readonly deliveredSeq: number; readonly readSeq: number };

/**
 * The next item of a conversation to send: the oldest pending one, unless it
 * names a send that is still pending (possible when two tabs' clocks disagree),
 * which then goes first.
 */
export function nextItem(state: ClientState, conversationId: string): OutboxItem | undefined {
  const pending = sortedOutbox(state).filter(
    (i) => i.conversationId === conversationId && i.status === "pending",
  );
  const first = pending[0];
  if (!first) return undefined;
  const op = first.op;
  if ("target" in op && "clientMsgId" in op.target) {
    const send = state.outbox.get(op.target.clientMsgId);
    if (send && send.status === "pending" && send.op.kind === "send") return send;
  }
  return first;
}

/** The seq an item's target names, or the reason it cannot be resolved. */
function resolveTarget(state: ClientState, item: OutboxItem): number | ParleyError {
  const op = item.op;
  if (!("target" in op)) return 0;
  if ("seq" in op.target) return op.target.seq;
  const clientMsgId = op.target.clientMsgId;
  const send = state.outbox.get(clientMsgId);
  if (send?.status === "failed") {
    return new ParleyError(
      "TARGET_FAILED",
      `unable to ${op.kind} a message; the message it names failed to send`,
    );
  }
  for (const m of state.messages.get(item.conversationId)?.values() ?? []) {
    if (m.clientMsgId === clientMsgId && m.seq > 0) return m.seq;
  }
  return new ParleyError(
    "TARGET_FAILED",
    `unable to ${op.kind} a message; the message it names was discarded or is unknown`,
  );
}

/**
 * Sends the outbox, on the leader only: one item at a time per conversation in
 * id order (conversations in parallel), only while the connection is live.
 * Answered items are deleted in the same write that caches the answer; retryable
 * failures are retried with backoff; terminal ones mark the item failed and the
 * next item goes on.
 *
 * A retry (same client id) of a mutation the server already applied is answered
 * with the original result, which may be older than what the stream brought
 * since. So an answer's message is cached only when nothing newer of that
 * message was written since this instance first sent the item, and not at all
 * for items that may have been sent before that (by an earlier run or another
 * tab): for those the stream brings the message.
 */
export class OutboxSender {
  private readonly workers = new Map<string, Promise<void>>();
  private controller = new AbortController();
  private active = false;
  /** Per item being sent: the write mark taken before this instance first sent it. */
  private readonly firstMarks = new Map<string, number>();
  /** Items that may have reached the server before this instance first sent them. */
  private readonly uncertain = new Set<string>();

  constructor(private readonly core: Core) {}

  start(): void {
    if (this.active) return;
    this.active = true;
    this.controller = new AbortController();
    // Whoever held the connection before (an earlier run, another tab) may have sent these.
    for (const id of this.core.data.outbox.keys()) if (!this.firstMarks.has(id)) this.uncertain.add(id);
    this.kick();
  }

  /** The mark of an item's first sending by this instance (taken now if it is the first). */
  private firstMark(id: string): number {
    let mark = this.firstMarks.get(id);
    if (mark === undefined) {
      mark = this.core.mark();
      this.firstMarks.set(id, mark);
    }
    return mark;
  }

  /** Forgets marks of items that are answered, failed or gone; a failed item may be retried later, unsure. */
  private sweep(): void {
    const outbox = this.core.data.outbox;
    for (const [id, mark] of this.firstMarks) {
      const item = outbox.get(id);
      if (item?.status === "pending") continue;
      this.firstMarks.delete(id);
      this.core.release(mark);
      if (item) this.uncertain.add(id);
    }
    for (const id of this.uncertain) if (!outbox.has(id)) this.uncertain.delete(id);
  }

  async stop(): Promise<void> {
    this.active = false;
    this.controller.abort();
    await Promise.all([...this.workers.values()]);
  }

  /** Starts a worker for every conversation with pending items that has none. */
  kick(): void {
    if (!this.active) return;
    const conversations = new Set<string>();
    for (const item of this.core.data.outbox.values()) {
      if (item.status === "pending") conversations.add(item.conversationId);
    }
    for (const id of conversations) {
      if (!this.workers.has(id)) this.spawn(id);
    }
  }

  private spawn(conversationId: string, attempt = 0): void {
    const signal = this.controller.signal;
    let worker: Promise<void> | undefined;
    worker = (async () => {
      await null;
      let failed = false;
      try {
        await this.work(conversationId, signal);
      } catch (err) {
        // Not an answer from the server (those are handled in work()): e.g. the store failed.
        failed = true;
        if (!signal.aborted) this.core.reportError(toParleyError(err, "send the outbox"));
      } finally {
        if (this.workers.get(conversationId) === worker) this.workers.delete(conversationId);
      }
      if (signal.aborted || !nextItem(this.core.data, conversationId) || this.workers.has(conversationId))
        return;
      if (!failed) {
        // Items arrived after the worker's last look (the finally above ran synchronously with it).
        this.spawn(conversationId);
        return;
      }
      const sleep = interruptibleSleep(backoffDelay(this.core.options.reconnect, attempt), signal);
      await sleep.promise;
      if (!signal.aborted && !this.workers.has(conversationId)) this.spawn(conversationId, attempt + 1);
    })();
    this.workers.set(conversationId, worker);
  }

  private async work(conversationId: string, signal: AbortSignal): Promise<void> {
    const core = this.core;
    let attempt = 0;
    for (;;) {
      if (signal.aborted) return;
      await core.whenLive(signal);
      this.sweep();
      const item = nextItem(core.data, conversationId);
      if (!item) return;
      const mark = this.firstMark(item.id);
      let answer: Answer;
      try {
        const seq = resolveTarget(core.data, item);
        if (seq instanceof ParleyError) throw seq;
        answer = await this.call(item, seq, signal);
      } catch (err) {
        if (signal.aborted) return;
        const error = toParleyError(err, `send outbox item ${item.id}`);
        if (FATAL.has(error.reason)) {
          core.fatal(error);
          return;
        }
        if (error.retryable) {
          core.logger.info("outbox item will be retried", { id: item.id, reason: error.reason });
          await core.commit((state) => {
            const current = state.outbox.get(item.id);
            return current ? { outbox: [{ ...current, attempts: current.attempts + 1 }] } : undefined;
          });
          const sleep = interruptibleSleep(backoffDelay(core.options.reconnect, attempt), signal);
          attempt += 1;
          await sleep.promise;
          continue;
        }
        core.logger.warn("outbox item failed", { id: item.id, reason: error.reason, message: error.message });
        await core.commit((state) => {
          const current = state.outbox.get(item.id);
          if (!current) return undefined;
          return {
            outbox: [
              {
                ...current,
                status: "failed",
                attempts: current.attempts + 1,
                failure: { reason: error.reason, message: error.message },
              },
            ],
          };
        });
        this.sweep();
        attempt = 0;
        continue;
      }
      attempt = 0;
      const uncertain = this.uncertain.has(item.id);
      await core.commit((state) => this.answered(state, item, answer, mark, uncertain));
      this.sweep();
    }
  }

  /**
   * The batch that records an answered item. `mark` was taken before this instance
   * first sent it; `uncertain` tells it may have been sent before that.
   */
  private answered(
    state: ClientState,
    item: OutboxItem,
    answer: Answer,
    mark: number,
    uncertain: boolean,
  ): StoreBatch {
    const core = this.core;
    const id = item.conversationId;
    const conversation = state.conversations.get(id);
    if (answer.kind === "receipt") {
      return {
        deleteOutbox: [item.id],
        conversations: conversation
          ? [withReceipt(conversation, core.me, answer.deliveredSeq, answer.readSeq, core.me)]
          : [],
      };
    }
    const message = answer.message;
    const ack = item.op.kind === "send" ? acknowledgeSend(state, item.id, message.seq) : {};
    const deleteOutbox = [...new Set([item.id, ...(ack.deleteOutbox ?? [])])];
    // The stream may already have brought this message or a newer state of it: keep that. An
    // uncertain item's answer may be the original result of an earlier sending, older than what
    // the cache got since: only a send newer than anything cached is taken from it.
    const written = core.writtenSince(messageKey(id, message.seq), mark);
    const stale =
      item.op.kind === "send"
        ? written ||
          state.messages.get(id)?.has(message.seq) === true ||
          (uncertain && message.seq <= (conversation?.lastSeq ?? 0))
        : written || uncertain;
    if (stale) return { deleteOutbox, outbox: ack.outbox ?? [] };
    const next = conversation
      ? item.op.kind === "send"
        ? withMessage(conversation, message, core.me)
        : withUpdatedMessage(conversation, message)
      : undefined;
    return {
      deleteOutbox,
      outbox: ack.outbox ?? [],
      messages: [message],
      conversations: next && next !== conversation ? [next] : [],
    };
  }

  private async call(item: OutboxItem, seq: number, signal: AbortSignal): Promise<Answer> {
    const rpc = this.core.rpc.messages;
    const conversationId = item.conversationId;
    const op = item.op;
    const options = { signal };
    const message = (m: Message | undefined): Answer => {
      if (!m) throw new ParleyError("INTERNAL", "unable to send outbox item; the answer has no message");
      return { kind: "message", message: m };
    };
    switch (op.kind) {
      case "send": {
        const a = op.attachment;
        const res = await rpc.sendMessage(
          {
            conversationId,
            clientMsgId: item.id,
            text: op.text,
            replyToSeq: op.replyToSeq,
            attachment: a
              ? create(AttachmentSchema, {
                  url: a.url,
                  contentType: a.contentType,
                  name: a.name ?? "",
                  sizeBytes: BigInt(a.sizeBytes ?? 0),
                })
              : undefined,
          },
          options,
        );
        return message(res.message);
      }
      case "edit":
        return message(
          (await rpc.editMessage({ conversationId, seq, clientId: item.id, text: op.text }, options)).message,
        );
      case "delete":
        return message(
          (await rpc.deleteMessage({ conversationId, seq, clientId: item.id }, options)).message,
        );
      case "react": {
        const req = { conversationId, seq, clientId: item.id, emoji: op.emoji };
        const res = op.add ? await rpc.addReaction(req, options) : await rpc.removeReaction(req, options);
        return message(res.message);
      }
      case "markRead": {
        const res = await rpc.markRead({ conversationId, seq: op.seq, clientId: item.id }, options);
        return { kind: "receipt", deliveredSeq: res.deliveredSeq, readSeq: res.readSeq };
      }
    }
  }
}
