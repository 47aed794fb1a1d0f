import type { ConnectionState } from "./connection-state.js";
import type { OutboxItem, StoreBatch } from "./store/port.js";

/**
 * The messages instances of one user (browser tabs) exchange through a
 * {@link TabCoordinator}. All are structured-clonable plain objects.
 *
 * Leader → others:
 * - `batch`: a store batch the leader just wrote; apply it to memory (not to the store).
 * - `state`: the leader's connection state.
 * - `typing`: a typing indicator from the leader's stream.
 *
 * Others → everyone:
 * - `outbox`: an outbox item this instance just wrote to the shared store (new, or
 *   set pending again by a retry); the leader queues it, others show it.
 * - `discard`: an outbox item this instance just deleted from the store.
 * - `hello`: a new instance; the leader answers with `state` and `typing`.
 */
export type TabMessage =
  | { readonly type: "batch"; readonly batch: StoreBatch }
  | { readonly type: "state"; readonly state: ConnectionState }
  | {
      readonly type: "typing";
      readonly conversationId: string;
      readonly userId: string;
      readonly typing: boolean;
    }
  | { readonly type: "outbox"; readonly item: OutboxItem }
  | { readonly type: "discard"; readonly id: string }
  | { readonly type: "hello" };

const TYPES = new Set(["batch", "state", "typing", "outbox", "discard", "hello"]);

/** True when `value` looks like a {@link TabMessage} (other traffic on the channel is ignored). */
export function isTabMessage(value: unknown): value is TabMessage {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { type?: unknown }).type === "string" &&
    TYPES.has((value as { type: string }).type)
  );
}
