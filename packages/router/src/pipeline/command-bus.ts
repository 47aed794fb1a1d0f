import { create, toBinary } from "@bufbuild/protobuf";
import { ErrorReason, parleyError, ulid } from "@parley/protocol";
import { type Command, type CommandResult, CommandSchema } from "@parley/protocol/internal";
import type { EventLog } from "../log/port.js";
import type { ReplyChannel } from "./replies.js";
import type { TopicConfig } from "./topics.js";

/** Options for {@link createCommandBus}. */
export interface CommandBusOptions {
  log: EventLog;
  replies: ReplyChannel;
  topics: TopicConfig;
  /** This process's id; replies are addressed to it. */
  processId: string;
  /** How long to wait for a worker's reply. @defaultValue 10000 */
  replyTimeoutMs?: number;
}

/** A command as submitted: everything but the ids the bus assigns. */
export type CommandInit = Pick<Command, "actorId" | "conversationId" | "kind">;

/** Submits conversation commands and waits for their results. */
export interface CommandBus {
  /**
   * Appends the command to the conversation's partition (durably) and resolves
   * with the worker's result. Rejects with `unavailable` when the log cannot take
   * it or no reply comes in time (the command may still be applied later: clients
   * retry with the same client id and get the original result).
   */
  submit(command: CommandInit): Promise<CommandResult>;
  /** Fails pending submissions and stops listening for replies. */
  close(): void;
}

interface Pending {
  resolve(result: CommandResult): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

/** A {@link CommandBus} over an {@link EventLog} and a {@link ReplyChannel}. */
export function createCommandBus(options: CommandBusOptions): CommandBus {
  const { log, replies, topics, processId } = options;
  const timeoutMs = options.replyTimeoutMs ?? 10_000;
  const pending = new Map<string, Pending>();
  const unlisten = replies.listen(processId, (result) => {
    const p = pending.get(result.commandId);
    if (!p) return;
    pending.delete(result.commandId);
    clearTimeout(p.timer);
    p.resolve(result);
  });
  return {
    async submit(init) {
      const command = create(CommandSchema, {
        ...init,
        commandId: ulid(),
        replyTo: processId,
        submittedAtMs: BigInt(Date.now()),
      });
      const reply = new Promise<CommandResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(command.commandId);
          reject(
            parleyError(
              ErrorReason.DEPENDENCY_UNAVAILABLE,
              "unable to complete request; no worker answered in time (retry with the same client id)",
            ),
          );
        }, timeoutMs);
        pending.set(command.commandId, { resolve, reject, timer });
      });
      try {
        await log.append(topics.commands, [
          { key: command.conversationId, value: toBinary(CommandSchema, command) },
        ]);
      } catch (err) {
        const p = pending.get(command.commandId);
        if (p) clearTimeout(p.timer);
        pending.delete(command.commandId);
        reply.catch(() => {});
        throw parleyError(
          ErrorReason.DEPENDENCY_UNAVAILABLE,
          "unable to complete request; the event log is unavailable",
          {
            cause: err,
          },
        );
      }
      return reply;
    },
    close() {
      unlisten();
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(
          parleyError(ErrorReason.SHUTTING_DOWN, "unable to complete request; the server is shutting down"),
        );
        pending.delete(id);
      }
    },
  };
}
