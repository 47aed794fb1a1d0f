import type { Core } from "./core.js";
import { toParleyError } from "./errors.js";
import { withReceipt } from "./reduce.js";

/**
 * Reports delivery automatically (leader only): once per `deliveredDelayMs`
 * window, for each conversation whose newest seq is above my delivered
 * watermark, one MarkDelivered call. Not queued in the outbox: after a reconnect
 * everything is simply computed again.
 */
export class DeliveredReporter {
  private readonly dirty = new Set<string>();
  /** The highest seq reported per conversation, so a window does not repeat a call whose event is on its way. */
  private readonly reported = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private active = false;
  private controller = new AbortController();

  constructor(private readonly core: Core) {}

  start(): void {
    this.active = true;
    this.controller = new AbortController();
  }

  stop(): void {
    this.active = false;
    this.controller.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  /** Looks at these conversations in the next window. */
  note(conversationIds: Iterable<string>): void {
    if (!this.active) return;
    for (const id of conversationIds) this.dirty.add(id);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.core.options.deliveredDelayMs);
  }

  /** Looks at every conversation again (after reconnecting). */
  all(): void {
    this.reported.clear();
    this.note(this.core.data.conversations.keys());
  }

  private async flush(): Promise<void> {
    const core = this.core;
    if (!this.active || core.connectionState() !== "live") {
      this.dirty.clear();
      return;
    }
    const ids = [...this.dirty];
    this.dirty.clear();
    const signal = this.controller.signal;
    await Promise.all(
      ids.map(async (conversationId) => {
        const conversation = core.data.conversations.get(conversationId);
        const mine = conversation?.members.find((m) => m.userId === core.me);
        if (!conversation || !mine) return;
        const seq = conversation.lastSeq;
        if (seq <= Math.max(mine.deliveredSeq, this.reported.get(conversationId) ?? 0)) return;
        this.reported.set(conversationId, seq);
        try {
          const res = await core.rpc.messages.markDelivered({ conversationId, seq }, { signal });
          await core.commit((state) => {
            const current = state.conversations.get(conversationId);
            if (!current) return undefined;
            const next = withReceipt(current, core.me, res.deliveredSeq, res.readSeq, core.me);
            return next === current ? undefined : { conversations: [next] };
          });
        } catch (err) {
          this.reported.delete(conversationId);
          if (signal.aborted) return;
          const error = toParleyError(err, "mark delivered");
          core.logger.warn("mark delivered failed", { conversationId, reason: error.reason });
          // Retryable failures are computed again on the next reconnect.
        }
      }),
    );
  }
}
