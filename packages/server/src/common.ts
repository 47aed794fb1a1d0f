import type { HandlerContext } from "@connectrpc/connect";
import type { ConversationState } from "@parley/history";
import { ErrorReason, parleyError } from "@parley/protocol";
import type { CommandResult } from "@parley/protocol/internal";
import { type CommandInit, findMember } from "@parley/router";
import { type AuthUser, authUserKey } from "./auth.js";
import type { ParleyDeps } from "./deps.js";

/** The caller, as set by the auth interceptor. */
export function caller(ctx: HandlerContext): AuthUser {
  const user = ctx.values.get(authUserKey);
  if (!user)
    throw parleyError(ErrorReason.TOKEN_MISSING, "unable to authenticate; no verified user on this request");
  return user;
}

/** The conversation if it exists and `userId` is a member; otherwise the matching Parley error. */
export async function memberConversation(
  deps: ParleyDeps,
  op: string,
  userId: string,
  conversationId: string,
): Promise<ConversationState> {
  const state = await deps.history.getConversation(conversationId);
  if (!state) {
    throw parleyError(
      ErrorReason.CONVERSATION_NOT_FOUND,
      `unable to ${op}; conversation ${conversationId} does not exist`,
      {
        field: "conversation_id",
      },
    );
  }
  if (!findMember(state, userId)) {
    throw parleyError(
      ErrorReason.NOT_A_MEMBER,
      `unable to ${op}; you are not a member of ${conversationId}`,
      {
        field: "conversation_id",
      },
    );
  }
  return state;
}

/** Conversations sorted newest activity first (ties by id, so pages are stable). */
function byActivity(a: ConversationState, b: ConversationState): number {
  return b.updatedAtMs - a.updatedAtMs || (a.conversationId < b.conversationId ? -1 : 1);
}

/** Every conversation `userId` is a member of, newest activity first. */
export async function userConversations(deps: ParleyDeps, userId: string): Promise<ConversationState[]> {
  const ids = await deps.history.listUserConversations(userId);
  const states = await Promise.all(ids.map((id) => deps.history.getConversation(id)));
  return states
    .filter((s): s is ConversationState => s !== undefined && findMember(s, userId) !== undefined)
    .sort(byActivity);
}

/** Submits a command and returns its outcome, turning a rejected command into its Parley error. */
export async function run(deps: ParleyDeps, init: CommandInit): Promise<CommandResult["outcome"]> {
  const result = await deps.commands.submit(init);
  if (result.outcome.case === "error") {
    const { detail, message } = result.outcome.value;
    throw parleyError(detail?.reason ?? ErrorReason.INTERNAL, message, {
      field: detail?.field ?? "",
      metadata: detail?.metadata ?? {},
    });
  }
  return result.outcome;
}

type Outcome = CommandResult["outcome"];
type OutcomeValue<C> = Extract<Outcome, { case: C }> extends { value: infer V } ? V : never;

/** The value of an outcome of the expected case, or an internal error. */
export function expectOutcome<C extends NonNullable<Outcome["case"]>>(
  outcome: Outcome,
  kind: C,
): OutcomeValue<C> {
  if (outcome.case !== kind) {
    throw parleyError(
      ErrorReason.INTERNAL,
      `unable to complete request; expected a ${kind} result, got ${outcome.case}`,
    );
  }
  return outcome.value as OutcomeValue<C>;
}
