import { equals } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  type Conversation,
  ConversationSchema,
  type Event,
  type GetSnapshotResponse,
  type Message,
  type SyncService,
} from "@parley/protocol";
import { backoffDelay, interruptibleSleep } from "./backoff.js";
import type { Core } from "./core.js";
import { ParleyError, toParleyError } from "./errors.js";
import { mergeConversation, withMessage, withReceipt, withUpdatedMessage } from "./reduce.js";
import type { ClientState } from "./state.js";
import type { OutboxItem, StoreBatch } from "./store/port.js";

/** How many recent event ids are remembered to drop replays. */
const SEEN_EVENT_IDS = 2048;

/** Reasons that stop the connection for good instead of retrying. */
const FATAL = new Set(["TOKEN_INVALID", "TOKEN_MISSING", "USER_MISMATCH"]);

/** Stream failures that mean the gateway it ran on is gone (died, unreachable, shutting down). */
const GATEWAY_LOST = new Set(["NETWORK", "SHUTTING_DOWN"]);

/**
 * The outbox changes that go with a send being acknowledged (by its answer or by
 * its MessageCreated event): the item is deleted, and edits/reactions/deletes
 * naming it by client id now name its seq.
 */
export function acknowledgeSend(
  state: ClientState,
  clientMsgId: string,
  seq: number,
): Pick<StoreBatch, "deleteOutbox" | "outbox"> {
  const outbox: OutboxItem[] = [];
  for (const item of state.outbox.values()) {
    const op = item.op;
    if ("target" in op && "clientMsgId" in op.target && op.target.clientMsgId === clientMsgId) {
      outbox.push({ ...item, op: { ...op, target: { seq } } });
    }
  }
  const own = state.outbox.get(clientMsgId);
  return { deleteOutbox: own && own.op.kind === "send" ? [clientMsgId] : [], outbox };
}

/** Inputs for {@link eventBatch} gathered before the write (they need I/O). */
export interface EventContext {
  /** The conversation fetched because the cache did not have it (null: not visible to me). */
  readonly fetched?: Conversation | null;
  /** True when a MessageCreated's message is already cached. */
  readonly duplicate: boolean;
}

/**
 * The store batch that applies one stream event to the cache, with its cursor, so
 * the cursor never runs ahead of (or behind) the cached state.
 */
export function eventBatch(state: ClientState, event: Event, me: string, ctx: EventContext): StoreBatch {
  const id = event.conversationId;
  const cached = state.conversations.get(id) ?? (ctx.fetched ? ctx.fetched : undefined);
  const fetchedPut = !state.conversations.has(id) && ctx.fetched ? [ctx.fetched] : [];
  const p = event.payload;
  // An event of a conversation I can no longer see: only the cursor moves.
  if (ctx.fetched === null && !state.conversations.has(id)) return { cursor: event.cursor };
  switch (p.case) {
    case "messageCreated": {
      const message = p.value.message;
      if (!message) return { cursor: event.cursor, conversations: fetchedPut };
      const ack: Pick<StoreBatch, "deleteOutbox" | "outbox"> =
        message.senderId === me && message.clientMsgId !== ""
          ? acknowledgeSend(state, message.clientMsgId, message.seq)
          : {};
      if (ctx.duplicate) {
        // Cached already (e.g. a history page brought it before the stream did): the message
        // stays, but it still counts for the conversation (newest seq, unread, sender's receipts).
        const known = state.messages.get(id)?.get(message.seq) ?? message;
        const next = cached ? withMessage(cached, known, me) : undefined;
        const changed = next !== undefined && !equals(ConversationSchema, next, cached as Conversation);
        return { cursor: event.cursor, conversations: changed ? [next] : fetchedPut, ...ack };
      }
      return {
        cursor: event.cursor,
        conversations: cached ? [withMessage(cached, message, me)] : [],
        messages: [message],
        ...ack,
      };
    }
    case "messageUpdated": {
      const message = p.value.message;
      if (!message) return { cursor: event.cursor, conversations: fetchedPut };
      return {
        cursor: event.cursor,
        conversations: cached ? [withUpdatedMessage(cached, message)] : [],
        messages: [message],
      };
    }
    case "receiptUpdated": {
      const r = p.value;
      return {
        cursor: event.cursor,
        conversations: cached ? [withReceipt(cached, r.userId, r.deliveredSeq, r.readSeq, me)] : [],
      };
    }
    case "membershipChanged": {
      const next = p.value.conversation;
      if (!next?.members.some((m) => m.userId === me)) {
        return { cursor: event.cursor, deleteConversations: state.conversations.has(id) ? [id] : [] };
      }
      return { cursor: event.cursor, conversations: [mergeConversation(next, state.conversations.get(id))] };
    }
    case "conversationUpdated": {
      const next = p.value.conversation;
      if (!next) return { cursor: event.cursor };
      return { cursor: event.cursor, conversations: [mergeConversation(next, state.conversations.get(id))] };
    }
    default:
      return { cursor: event.cursor };
  }
}

/** The batch that replaces the cache with a snapshot (the outbox is kept). */
export function snapshotBatch(state: ClientState, snapshot: GetSnapshotResponse, me: string): StoreBatch {
  const messages: Message[] = [];
  for (const s of snapshot.conversations) messages.push(...s.messages);
  // Sends the server has but whose answer was lost: the snapshot is their acknowledgement.
  const deleteOutbox: string[] = [];
  const outbox: OutboxItem[] = [];
  for (const m of messages) {
    if (m.senderId !== me || !state.outbox.has(m.clientMsgId)) continue;
    const ack = acknowledgeSend(state, m.clientMsgId, m.seq);
    deleteOutbox.push(...(ack.deleteOutbox ?? []));
    outbox.push(...(ack.outbox ?? []));
  }
  return {
    reset: true,
    cursor: snapshot.cursor,
    conversations: snapshot.conversations.flatMap((s) => (s.conversation ? [s.conversation] : [])),
    messages,
    deleteOutbox,
    outbox,
  };
}

/**
 * The leader's connection: checks the user, loads a snapshot when there is no
 * cursor, holds the Subscribe stream and applies its events in order, and
 * reconnects with backoff. Runs from {@link SyncEngine.start} until
 * {@link SyncEngine.stop}.
 */
export class SyncEngine {
  private running: Promise<void> | undefined;
  private controller = new AbortController();
  private streamAbort: AbortController | undefined;
  private sleeper: { wake(): void } | undefined;
  private attempt = 0;
  private userChecked = false;
  /** Recent event ids → the subscription (counted from 1) that applied them. */
  private readonly seen = new Map<string, number>();
  private subscription = 0;
  /** True until the current subscription brings an event this instance has not applied. */
  private replaying = false;
  private readonly unsubscribeNetwork: () => void;
  /** The gateway the device stream runs on; undefined: the base transport. */
  private gateway: { readonly baseUrl: string; readonly sync: Client<typeof SyncService> } | undefined;
  /** Ask `GetEndpoint` (on the base transport) before the next Subscribe. */
  private discover: boolean;
  /** WRONG_GATEWAY answers since the stream was last live: the first is followed at once, the rest back off. */
  private redirects = 0;
  /** The next attempt follows a redirect at once. */
  private redirectNow = false;

  constructor(private readonly core: Core) {
    this.unsubscribeNetwork = core.network.subscribe((online) => this.onNetwork(online));
    this.discover = core.options.discovery;
  }

  /** Starts connecting (no-op when running). */
  start(): void {
    if (this.running) return;
    if (this.controller.signal.aborted) this.controller = new AbortController();
    const signal = this.controller.signal;
    this.running = this.loop(signal).finally(() => {
      this.running = undefined;
    });
  }

  /** Stops: ends the stream and waits for the loop to finish. */
  async stop(): Promise<void> {
    this.controller.abort();
    this.sleeper?.wake();
    await this.running;
  }

  /** Stops for good and forgets the network monitor. */
  async dispose(): Promise<void> {
    this.unsubscribeNetwork();
    await this.stop();
  }

  /** Cuts the backoff short (e.g. after `connect()` is called again). */
  wake(): void {
    this.sleeper?.wake();
  }

  private onNetwork(online: boolean): void {
    if (!this.running) return;
    if (online) {
      this.attempt = 0;
      this.sleeper?.wake();
    } else {
      this.streamAbort?.abort();
      this.sleeper?.wake();
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const core = this.core;
    while (!signal.aborted) {
      if (!core.network.isOnline()) {
        core.setConnectionState("offline");
        await this.waitOnline(signal);
        continue;
      }
      if (core.connectionState() !== "resyncing") core.setConnectionState("connecting");
      // Following a redirect at once continues the same attempt: the token was just refreshed.
      const redirected = this.redirectNow;
      this.redirectNow = false;
      let streaming = false;
      try {
        if (!redirected) await core.refreshToken();
        await this.checkUser(signal);
        if (core.data.cursor === "") await this.snapshot(signal);
        if (this.discover) await this.discoverGateway(signal);
        streaming = true;
        await this.subscribe(signal);
        if (signal.aborted) return;
        throw new ParleyError("NETWORK", "unable to subscribe; the server ended the stream");
      } catch (err) {
        if (signal.aborted) return;
        const error = toParleyError(err, "sync");
        if (error.reason === "WRONG_GATEWAY") {
          this.redirect(error);
          if (this.redirects > 1) await this.backoff(signal, error);
          else this.redirectNow = true;
          continue;
        }
        if (streaming && this.gateway && GATEWAY_LOST.has(error.reason) && core.network.isOnline()) {
          // The gateway died or went away: start over from the base transport (and discovery).
          core.logger.info("lost the gateway; reconnecting through the base transport", {
            gateway: this.gateway.baseUrl,
            reason: error.reason,
          });
          this.gateway = undefined;
          this.discover = core.options.discovery;
        }
        if (FATAL.has(error.reason)) {
          core.fatal(error);
          return;
        }
        if (error.reason === "RESYNC_REQUIRED" || error.reason === "CURSOR_INVALID") {
          core.logger.info("cursor cannot be resumed; rebuilding from a snapshot", { reason: error.reason });
          core.setConnectionState("resyncing");
          try {
            await this.snapshot(signal);
            continue;
          } catch (snapshotErr) {
            if (signal.aborted) return;
            const e = toParleyError(snapshotErr, "load a snapshot");
            if (FATAL.has(e.reason)) {
              core.fatal(e);
              return;
            }
            await this.backoff(signal, e);
            continue;
          }
        }
        await this.backoff(signal, error);
      }
    }
  }

  /**
   * Follows a WRONG_GATEWAY answer: to the gateway it names, or, when it names
   * none, to the one `GetEndpoint` names before the next attempt.
   */
  private redirect(error: ParleyError): void {
    this.redirects += 1;
    const endpoint = error.metadata.endpoint ?? "";
    this.core.logger.info("the gateway does not serve this user; redirecting", {
      endpoint,
      redirects: this.redirects,
    });
    if (endpoint !== "") this.moveTo(endpoint);
    else if (this.core.options.followRedirects) this.discover = true;
  }

  /** Asks the base transport's `GetEndpoint` where the device stream belongs, and moves it there. */
  private async discoverGateway(signal: AbortSignal): Promise<void> {
    const endpoint = await this.core.rpc.discovery.getEndpoint({}, { signal });
    this.discover = false;
    this.moveTo(endpoint.baseUrl);
  }

  /** Runs the device stream on the gateway at `baseUrl` from now on ("": the base transport). */
  private moveTo(baseUrl: string): void {
    if (baseUrl === "") {
      this.gateway = undefined;
      return;
    }
    if (this.gateway?.baseUrl === baseUrl) return;
    const sync = this.core.gatewaySync(baseUrl);
    if (!sync) {
      this.core.logger.warn("a gateway redirected the stream but no transportFor option is set; staying", {
        endpoint: baseUrl,
      });
      return;
    }
    this.gateway = { baseUrl, sync };
  }

  private async backoff(signal: AbortSignal, error: ParleyError): Promise<void> {
    this.core.logger.warn("sync connection failed; retrying", {
      reason: error.reason,
      message: error.message,
    });
    this.core.setConnectionState("offline", error);
    const delay = backoffDelay(this.core.options.reconnect, this.attempt);
    this.attempt += 1;
    const sleep = interruptibleSleep(delay, signal);
    this.sleeper = sleep;
    await sleep.promise;
    this.sleeper = undefined;
  }

  private async waitOnline(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.core.network.isOnline()) {
      const sleep = interruptibleSleep(this.core.options.reconnect.maxDelayMs, signal);
      this.sleeper = sleep;
      await sleep.promise;
      this.sleeper = undefined;
    }
  }

  /** On the first connection, checks the token belongs to `options.userId`. */
  private async checkUser(signal: AbortSignal): Promise<void> {
    if (this.userChecked) return;
    const who = await this.core.rpc.auth.whoAmI({}, { signal });
    if (who.userId !== this.core.me) {
      throw new ParleyError(
        "USER_MISMATCH",
        `unable to connect; the token is for user ${who.userId}, not ${this.core.me}`,
      );
    }
    this.userChecked = true;
  }

  private async snapshot(signal: AbortSignal): Promise<void> {
    const core = this.core;
    const snapshot = await core.rpc.sync.getSnapshot(
      {
        messagesPerConversation: core.options.messagesPerConversation,
        conversationLimit: core.options.conversationLimit,
      },
      { signal },
    );
    if (signal.aborted) return;
    await core.commit((state) => snapshotBatch(state, snapshot, core.me));
  }

  private async subscribe(signal: AbortSignal): Promise<void> {
    const core = this.core;
    const streamAbort = new AbortController();
    this.streamAbort = streamAbort;
    const onAbort = () => streamAbort.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    // Anything from the server (heartbeats included) proves the connection alive.
    let silent = false;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const timeoutMs = core.options.heartbeatTimeoutMs;
    const feed = () => {
      if (timeoutMs <= 0) return;
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        silent = true;
        streamAbort.abort();
      }, timeoutMs);
    };
    this.subscription += 1;
    this.replaying = true;
    try {
      feed();
      const stream = (this.gateway?.sync ?? core.rpc.sync).subscribe(
        { cursor: core.data.cursor, deviceId: core.currentDeviceId() },
        { signal: streamAbort.signal },
      );
      for await (const res of stream) {
        if (signal.aborted) return;
        feed();
        const kind = res.kind;
        switch (kind.case) {
          case "event":
            await this.applyEvent(kind.value);
            break;
          case "caughtUp": {
            const cursor = kind.value.cursor;
            if (cursor !== "")
              await core.commit((state) => (state.cursor === cursor ? undefined : { cursor }));
            this.attempt = 0;
            this.redirects = 0;
            core.setConnectionState("live");
            core.becameLive();
            break;
          }
          case "typing":
            core.typingReceived(kind.value.conversationId, kind.value.userId, kind.value.typing);
            break;
          default:
            break;
        }
      }
    } catch (err) {
      if (silent && !signal.aborted) {
        throw new ParleyError("NETWORK", `unable to sync; nothing arrived for ${timeoutMs} ms`, {
          cause: err,
        });
      }
      throw err;
    } finally {
      if (watchdog) clearTimeout(watchdog);
      signal.removeEventListener("abort", onAbort);
      if (this.streamAbort === streamAbort) this.streamAbort = undefined;
    }
  }

  /**
   * True when `event` was applied already and applying it again could only go
   * back: delivered twice in this subscription, or part of the replay that starts
   * a subscription, as long as that replay has brought nothing new. Once it has,
   * later events are applied even if seen before: an older event was just applied,
   * and the stream's order makes the newer ones set the state right again.
   */
  private isReplay(eventId: string): boolean {
    if (eventId === "") return false;
    const applied = this.seen.get(eventId);
    if (applied === this.subscription) return true;
    if (applied !== undefined && this.replaying) return true;
    this.replaying = false;
    return false;
  }

  /** Applies one event (or only advances the cursor for a replay). */
  private async applyEvent(event: Event): Promise<void> {
    const core = this.core;
    if (this.isReplay(event.eventId)) {
      core.logger.debug("dropped a replayed event", { eventId: event.eventId });
      await core.commit(() => ({ cursor: event.cursor }));
      return;
    }
    const id = event.conversationId;
    const p = event.payload;
    let fetched: Conversation | null | undefined;
    const needsConversation =
      p.case === "messageCreated" || p.case === "messageUpdated" || p.case === "receiptUpdated";
    if (needsConversation && id !== "" && !core.data.conversations.has(id)) {
      fetched = await this.fetchConversation(id);
    }
    let duplicate = false;
    if (p.case === "messageCreated" && p.value.message) {
      duplicate = await this.isCached(p.value.message);
      if (duplicate)
        core.logger.debug("dropped a replayed message", { conversationId: id, seq: p.value.message.seq });
    }
    await core.commit((state) => eventBatch(state, event, core.me, { fetched, duplicate }));
    this.remember(event.eventId);
    if (id !== "") core.eventsApplied([id]);
  }

  private remember(eventId: string): void {
    if (eventId === "") return;
    this.seen.delete(eventId);
    this.seen.set(eventId, this.subscription);
    if (this.seen.size > SEEN_EVENT_IDS) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private async isCached(message: Message): Promise<boolean> {
    const core = this.core;
    if (core.data.messages.get(message.conversationId)?.has(message.seq)) return true;
    const conversation = core.data.conversations.get(message.conversationId);
    if (conversation && message.seq > conversation.lastSeq) return false;
    const found = await core.store.messages(message.conversationId, {
      minSeq: message.seq,
      maxSeq: message.seq,
      limit: 1,
      from: "oldest",
    });
    return found.length > 0;
  }

  /** A conversation an event named that the cache does not have; null when I cannot see it. */
  private async fetchConversation(conversationId: string): Promise<Conversation | null> {
    try {
      const res = await this.core.rpc.conversations.getConversation({ conversationId });
      return res.conversation ?? null;
    } catch (err) {
      const error = toParleyError(err, "get conversation");
      if (error.reason === "NOT_A_MEMBER" || error.reason === "CONVERSATION_NOT_FOUND") return null;
      throw error;
    }
  }
}
