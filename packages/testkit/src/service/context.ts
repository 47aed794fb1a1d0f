import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AttachmentSchema, Conversation, Message, WatchPresenceResponse } from "@parley/protocol";
import { expect } from "vitest";
import {
  clientId,
  createParleyClients,
  mintServiceToken,
  type ParleyClients,
  uniqueUserId,
} from "./clients.js";
import { EventCollector, type EventCollectorOptions, StreamCollector } from "./helpers.js";
import type { ServiceUnderTest } from "./types.js";

/** A user of the service under test with a valid token and clients that send it. */
export interface TestUser {
  /** User id (the token's `sub`). */
  id: string;
  /** Display name (the token's `name`). */
  name: string;
  /** A valid one-hour token. */
  token: string;
  /** Clients sending `Authorization: Bearer <token>`. */
  clients: ParleyClients;
}

/** Everything a test area needs: the service, users, and streams that are closed after each test. */
export class SuiteContext {
  private current: ServiceUnderTest | undefined;
  private readonly open = new Set<{ close(): Promise<void> }>();

  /** The service; only valid inside tests and hooks (set by `beforeAll`). */
  get service(): ServiceUnderTest {
    if (!this.current) throw new Error("the service under test is not started (factory failed?)");
    return this.current;
  }

  /** @internal */
  setService(service: ServiceUnderTest | undefined): void {
    this.current = service;
  }

  /** A fresh user with a unique id and a valid token. */
  async user(label = "u"): Promise<TestUser> {
    const id = uniqueUserId(label);
    const name = `Test ${label}`;
    const token = await mintServiceToken(this.service, id, name);
    return { id, name, token, clients: createParleyClients(this.service.baseUrl, `Bearer ${token}`) };
  }

  /** `n` fresh users. */
  users(n: number, label = "u"): Promise<TestUser[]> {
    return Promise.all(Array.from({ length: n }, (_, i) => this.user(`${label}${i}`)));
  }

  /** New clients (new transport) for `user`, e.g. after a restart. */
  reconnect(user: TestUser): TestUser {
    return { ...user, clients: createParleyClients(this.service.baseUrl, `Bearer ${user.token}`) };
  }

  /** Clients sending `authorization` verbatim (or no Authorization header when undefined). */
  rawClients(authorization?: string): ParleyClients {
    return createParleyClients(this.service.baseUrl, authorization);
  }

  /** Starts a Subscribe stream for `user`; closed automatically after the test. */
  subscribe(user: TestUser, options: EventCollectorOptions = {}): EventCollector {
    return this.track(new EventCollector(user.clients, options));
  }

  /** Starts a Subscribe stream and waits for its first CaughtUp marker. */
  async connect(user: TestUser, options: EventCollectorOptions = {}): Promise<EventCollector> {
    const c = this.subscribe(user, options);
    await c.waitForCaughtUp(1);
    return c;
  }

  /** Starts WatchPresence for `userIds` as `watcher`; closed automatically after the test. */
  watchPresence(watcher: TestUser, userIds: string[]): StreamCollector<WatchPresenceResponse> {
    return this.track(
      new StreamCollector<WatchPresenceResponse>((signal) =>
        watcher.clients.presence.watchPresence({ userIds }, { signal }),
      ),
    );
  }

  /** Registers a stream to be closed after the current test. */
  track<T extends { close(): Promise<void> }>(collector: T): T {
    this.open.add(collector);
    return collector;
  }

  /** Closes every stream opened in the current test. */
  async closeAll(): Promise<void> {
    const all = [...this.open];
    this.open.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}

/** Extra SendMessage fields for {@link send}. */
export interface SendExtra {
  replyToSeq?: number;
  attachment?: MessageInitShape<typeof AttachmentSchema>;
}

/** Sends one message as `user`; returns the stored message. */
export async function send(
  user: TestUser,
  conversationId: string,
  text = `hello ${clientId()}`,
  extra: SendExtra = {},
): Promise<Message> {
  const res = await user.clients.messages.sendMessage({
    conversationId,
    clientMsgId: clientId(),
    text,
    ...extra,
  });
  if (!res.message) throw new Error("SendMessage returned no message");
  return res.message;
}

/** Sends `n` messages as `user`, `concurrency` at a time; returns them sorted by seq. */
export async function sendMany(
  user: TestUser,
  conversationId: string,
  n: number,
  concurrency = 8,
  label = "m",
): Promise<Message[]> {
  const out: Message[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out.push(await send(user, conversationId, `${label} ${i}`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out.sort((a, b) => a.seq - b.seq);
}

/** Creates a direct conversation from `a` with `b`. */
export async function createDirect(a: TestUser, b: TestUser): Promise<Conversation> {
  const res = await a.clients.conversations.createDirect({ peerUserId: b.id });
  if (!res.conversation) throw new Error("CreateDirect returned no conversation");
  return res.conversation;
}

/** Creates a group owned by `owner` with `members`. */
export async function createGroup(
  owner: TestUser,
  members: TestUser[],
  title = "group",
): Promise<Conversation> {
  const res = await owner.clients.conversations.createGroup({
    clientId: clientId(),
    title,
    memberIds: members.map((m) => m.id),
  });
  if (!res.conversation) throw new Error("CreateGroup returned no conversation");
  return res.conversation;
}

/** The conversation as `user` sees it. */
export async function getConversation(user: TestUser, conversationId: string): Promise<Conversation> {
  const res = await user.clients.conversations.getConversation({ conversationId });
  if (!res.conversation) throw new Error("GetConversation returned no conversation");
  return res.conversation;
}

/** The whole history of a conversation, ascending, read with after_seq pages of 200. */
export async function fullHistory(user: TestUser, conversationId: string): Promise<Message[]> {
  const all: Message[] = [];
  let after = 0;
  for (;;) {
    const page = await user.clients.messages.getHistory({
      conversationId,
      anchor: { case: "afterSeq", value: after },
      limit: 200,
    });
    all.push(...page.messages);
    const last = page.messages[page.messages.length - 1];
    if (!last || !page.hasMoreAfter) return all;
    after = last.seq;
  }
}

/** Conversation (as `user` sees it) and its full history: compare before/after a rejected call. */
export async function conversationState(
  user: TestUser,
  conversationId: string,
): Promise<{ conversation: Conversation; messages: Message[] }> {
  const [conversation, messages] = await Promise.all([
    getConversation(user, conversationId),
    fullHistory(user, conversationId),
  ]);
  return { conversation, messages };
}

/** Asserts `messages` have seqs exactly `from..from+len-1` in order. */
export function expectContiguous(messages: readonly Pick<Message, "seq">[], from = 1): void {
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => from + i));
}

/**
 * A well-formed id that names no conversation: `id` with its last character
 * changed within the same character class, so format checks still pass.
 */
export function unknownIdLike(id: string): string {
  const last = id.slice(-1);
  const swap = (alphabet: string) => alphabet[(alphabet.indexOf(last) + 7) % alphabet.length] ?? "0";
  let ch: string;
  if (/[0-9]/.test(last)) ch = swap("0123456789");
  else if (/[A-Z]/.test(last)) ch = swap("ABCDEFGHJKMNPQRSTVWXYZ");
  else if (/[a-z]/.test(last)) ch = swap("abcdefghjkmnpqrstvwxyz");
  else ch = "0";
  return id.slice(0, -1) + ch;
}
