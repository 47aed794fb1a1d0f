import type { CommandResult } from "@parley/protocol/internal";

/**
 * Carries command results from the worker that applied a command back to the
 * process that submitted it (`Command.reply_to`). In one process this is a
 * function call; across processes it rides the event log (see router-kafka).
 */
export interface ReplyChannel {
  /** Delivers a result to the process named `replyTo`; unknown or gone processes are ignored. */
  send(replyTo: string, result: CommandResult): Promise<void>;
  /** Receives the results addressed to `processId`. Returns an unsubscribe handle. */
  listen(processId: string, handler: (result: CommandResult) => void): () => void;
}

/** A {@link ReplyChannel} inside one process. */
export function createLocalReplyChannel(): ReplyChannel {
  const listeners = new Map<string, (result: CommandResult) => void>();
  return {
    async send(replyTo, result) {
      listeners.get(replyTo)?.(result);
    },
    listen(processId, handler) {
      listeners.set(processId, handler);
      return () => {
        if (listeners.get(processId) === handler) listeners.delete(processId);
      };
    },
  };
}
