// Snippets of the SDK guide (docs-site/guide/sdk.md). Each #region is shown on the
// page; the functions around them are run against createTestServer() by
// sdk.test.ts, so the guide's code compiles and does what the guide says.
import { isParleyError, type LocalMessage, type ParleyClient } from "@parley/client";
import type { Conversation, Message, Presence } from "@parley/protocol";

/** What an app draws; the tests record the calls. */
export interface ChatView {
  showConnection(state: string, problem?: string): void;
  showConversation(conversation: Conversation): void;
  removeConversation(conversationId: string): void;
  showMessage(conversationId: string, message: LocalMessage): void;
  redrawAll(conversations: Conversation[]): void;
  toast(text: string): void;
}

/** Shows the cache at once, then follows every change. Returns the unsubscribe handle. */
export async function follow(client: ParleyClient, view: ChatView): Promise<() => void> {
  // #region ready
  await client.ready(); // the store is loaded: draw the cached state, even offline
  view.redrawAll(client.conversations()); // newest activity first
  // #endregion ready

  // #region events
  const stops = [
    client.on("state", ({ state, error }) => view.showConnection(state, error?.message)),
    client.on("conversation", ({ conversation }) => view.showConversation(conversation)),
    client.on("conversationRemoved", ({ conversationId }) => view.removeConversation(conversationId)),
    client.on("message", ({ conversationId, message }) => view.showMessage(conversationId, message)),
    // The cache was rebuilt from a snapshot (the device was away too long): read it all again.
    client.on("resync", () => view.redrawAll(client.conversations())),
    client.on("error", ({ error }) => view.toast(error.message)),
  ];
  const stopAll = () => {
    for (const stop of stops) stop();
  };
  // #endregion events
  return stopAll;
}

/** Creates a direct conversation and a group, and changes the group. */
export async function conversations(
  client: ParleyClient,
): Promise<{ direct: Conversation; team: Conversation }> {
  // #region conversations
  // Creating conversations needs the server (they reject with NETWORK while offline).
  const direct = await client.createDirect("bob"); // one per pair: asking again returns it
  const team = await client.createGroup({ title: "Launch", memberIds: ["bob", "carol"] });
  await client.addMembers(team.conversationId, ["dave"]);
  await client.removeMember(team.conversationId, "dave"); // owners and admins only
  await client.rename(team.conversationId, "Launch (Friday)");

  for (const conversation of client.conversations()) {
    const members = conversation.members.map((m) => m.userId).join(", ");
    console.log(conversation.title || members, `${conversation.unreadCount} unread`);
  }
  // #endregion conversations
  return { direct, team };
}

/** Sends a message, edits it before it is even answered, replies to one, deletes the reply. */
export async function sendReplyEditDelete(
  client: ParleyClient,
  conversationId: string,
  question: Message,
): Promise<{ sent: LocalMessage; reply: LocalMessage }> {
  // #region send
  // Resolves once the message is durably queued, with its optimistic view:
  // status "pending", seq 0, clientMsgId set. Draw it now; it is sent when live.
  const sent = await client.send(conversationId, { text: "Shipping on Friday" });
  await client.edit(sent.message, "Shipping on Friday 🚢"); // fine while still pending

  // A reply names the seq of the message it answers.
  const reply = await client.send(conversationId, { text: "Yes", replyToSeq: question.seq });
  await client.delete(reply.message); // authors only; shows as deleted at once

  // Attachments are references: upload the file yourself, send its URL.
  await client.send(conversationId, {
    text: "The plan",
    attachment: {
      url: "https://files.example.com/plan.pdf",
      contentType: "application/pdf",
      name: "plan.pdf",
    },
  });
  // #endregion send
  return { sent, reply };
}

/** Adds a reaction and takes it back; lists the reactions of a message. */
export async function reactions(client: ParleyClient, message: Message): Promise<string[]> {
  // #region reactions
  await client.react(message, "👍"); // shown at once in client.messages(), sent through the outbox
  await client.unreact(message, "👍");
  await client.react(message, "🎉");

  const shown = client.messages(message.conversationId).find((m) => m.message.seq === message.seq);
  const summary = shown?.message.reactions.map((r) => `${r.emoji} ${r.userIds.length}`) ?? [];
  // #endregion reactions
  return summary;
}

/** Marks a conversation read and reads everyone's watermarks. */
export async function receipts(
  client: ParleyClient,
  conversationId: string,
): Promise<{ lines: string[]; ticks: string[] }> {
  // #region receipts
  // Delivery is reported by the client itself; reading is the app's call.
  await client.markRead(conversationId); // up to the last seq; unreadCount drops at once
  console.log(client.conversation(conversationId)?.unreadCount); // 0

  const lines = client
    .receipts(conversationId)
    .map((r) => `${r.userId} got up to #${r.deliveredSeq} and read up to #${r.readSeq}`);

  // My messages carry their status: "pending", "sent", "delivered", "read" (by every
  // other member) or "failed".
  const ticks = client.messages(conversationId).map((m) => m.status);
  client.on("receipt", ({ conversationId, userId, readSeq }) => {
    console.log(`${userId} read ${conversationId} up to #${readSeq}`);
  });
  // #endregion receipts
  return { lines, ticks };
}

/** Wires a text box to the typing indicator. */
export function typing(
  client: ParleyClient,
  conversationId: string,
  input: { onInput(listener: (text: string) => void): void },
  show: (line: string) => void,
): () => void {
  // #region typing
  // Call it on every keystroke: the client throttles the calls and stops by itself.
  input.onInput((text) => client.setTyping(conversationId, text !== ""));

  const stop = client.on("typing", (e) => {
    if (e.conversationId !== conversationId) return;
    show(e.userIds.length === 0 ? "" : `${e.userIds.join(", ")} typing…`); // never includes me
  });
  // client.typing(conversationId) answers the same at any time.
  // #endregion typing
  return stop;
}

/** Shows whether users are online. */
export async function presence(
  client: ParleyClient,
  show: (presence: Presence) => void,
): Promise<{ now: Presence[]; stop: () => void }> {
  // #region presence
  const now = await client.getPresence(["bob", "carol"]); // one request: online, lastSeen
  const stop = client.watchPresence(["bob", "carol"], (p) => {
    show(p); // now, and on every change; p.lastSeen is a protobuf Timestamp
  });
  // ... when the screen closes:
  // stop();
  // #endregion presence
  return { now, stop };
}

/** Scrolls back through a conversation's whole history, page by page. */
export async function scrollBack(client: ParleyClient, conversationId: string): Promise<Message[]> {
  // #region history
  // messages() holds the newest window (20 per conversation after a snapshot, more
  // as messages arrive). Older pages come from history(): from the cache when it
  // holds the whole page, from the server otherwise.
  const shown = client.messages(conversationId).filter((m) => m.message.seq > 0);
  const all: Message[] = shown.map((m) => m.message);
  let before = all[0]?.seq;
  while (before === undefined || before > 1) {
    const page = await client.history(conversationId, { before, limit: 50 }); // ascending seq
    all.unshift(...page.messages);
    if (!page.hasMoreBefore || page.messages.length === 0) break;
    before = page.messages[0]?.seq;
  }
  // Also: { after: seq } for newer pages, { around: seq } to jump to a message.
  // #endregion history
  return all;
}

/** Offers failed outbox items to the user. */
export function outbox(client: ParleyClient, ask: (question: string) => Promise<boolean>): () => void {
  // #region outbox
  const stop = client.on("outbox", async ({ item, removed }) => {
    if (removed || item.status !== "failed") return;
    // A terminal failure (NOT_A_MEMBER, TEXT_TOO_LONG, ...): the next items go on.
    const again = await ask(`${item.op.kind} failed (${item.failure?.reason}). Try again?`);
    if (again)
      await client.retry(item.id); // pending again, same client id
    else await client.discard(item.id); // a discarded send disappears from messages()
  });

  // Everything not yet answered, in order; a send shows in messages() as "pending"/"failed".
  const waiting = client.outbox().filter((item) => item.status === "pending").length;
  console.log(`${waiting} change(s) waiting for the network`);
  // #endregion outbox
  return stop;
}

/** Creates a group and tells the user what went wrong, if anything. */
export async function errors(client: ParleyClient, title: string): Promise<string> {
  // #region errors
  try {
    await client.createGroup({ title, memberIds: ["bob", "carol"] });
    return "created";
  } catch (err) {
    if (isParleyError(err, "NETWORK")) return "You are offline; try again later.";
    if (isParleyError(err, "GROUP_FULL")) return "That is more members than a group can have.";
    if (isParleyError(err) && err.field === "title") return `Check the title: ${err.message}`;
    if (isParleyError(err) && err.retryable) return "Something went wrong; try again.";
    throw err; // a bug, or a reason this screen does not expect
  }
  // #endregion errors
}
