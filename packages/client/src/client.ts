import { type Client as ConnectClient, createClient, type Transport } from "@connectrpc/connect";
import { type Conversation, type Presence, SyncService, ulid } from "@parley/protocol";
import { createAuthTransport, createTokenCache, type TokenCache, type TokenSource } from "./auth.js";
import { backoffDelay, interruptibleSleep } from "./backoff.js";
import type { ConnectionState } from "./connection-state.js";
import { createSoloCoordinator, type TabCoordinator } from "./coordinator.js";
import { type Core, createRpc, messageKey, type ResolvedOptions, type Rpc } from "./core.js";
import { closedError, ParleyError, toParleyError } from "./errors.js";
import {
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  type HistoryPage,
  type HistoryQuery,
  historyFromCache,
} from "./history.js";
import { type ClientLogger, silentLogger } from "./logger.js";
import { alwaysOnline, type NetworkMonitor } from "./network.js";
import { OutboxSender } from "./outbox.js";
import { watchPresenceLoop } from "./presence.js";
import { DeliveredReporter } from "./receipts.js";
import { byActivity, mergeConversation } from "./reduce.js";
import {
  applyBatch,
  type ClientState,
  emptyState,
  loadState,
  oldestSeq,
  type StateChanges,
  sortedOutbox,
} from "./state.js";
import { createMemoryClientStore } from "./store/memory.js";
import type {
  AttachmentInput,
  ClientStore,
  MessageTarget,
  OutboxItem,
  OutboxOp,
  StoreBatch,
} from "./store/port.js";
import { SyncEngine } from "./sync.js";
import { isTabMessage, type TabMessage } from "./tabs.js";
import { TypingThrottle, TypingTracker } from "./typing.js";
import {
  confirmedMessage,
  conversationMessages,
  conversationView,
  type LocalMessage,
  messageStatus,
  pendingReadSeq,
} from "./view.js";

/** Options for {@link createParleyClient}. */
export interface ParleyClientOptions {
  /**
   * Any Connect transport to a Parley server (connect-web, connect-node, or a test
   * server's). Every call goes here; so does the device stream unless a gateway
   * redirects it (see `transportFor`).
   */
  transport: Transport;
  /**
   * Builds a transport to another gateway of a cluster, from its base URL (as named
   * by a `WRONG_GATEWAY` answer's endpoint or by `DiscoveryService.GetEndpoint`).
   * A cluster gateway serves the device stream (`Subscribe`) only of the users
   * whose inbox it owns; with this option the client follows its redirects: it
   * moves the stream to the named gateway at once (repeated redirects back off),
   * asks `GetEndpoint` on `transport` when no gateway is named, and returns to
   * `transport` when the gateway it moved to cannot be reached. Other calls stay
   * on `transport`. Build the same kind of transport as `transport` (format, HTTP
   * version, interceptors); the client adds the token itself.
   * @defaultValue absent: the stream never moves (it retries `transport` with backoff)
   */
  transportFor?: (baseUrl: string) => Transport;
  /**
   * Ask `DiscoveryService.GetEndpoint` where to connect before subscribing (and
   * again after losing the gateway), instead of trying `transport` first and
   * following its `WRONG_GATEWAY` redirect. Off by default: a redirect names the
   * owner in the same round trip discovery would take, and when `transport` serves
   * the user (embedded mode, or the gateway a load balancer picked owns the user)
   * no extra call is made at all. Only used with `transportFor`.
   * @defaultValue false
   */
  discovery?: boolean;
  /** The signed-in user. Scopes what the client shows; checked against WhoAmI on the first connect. */
  userId: string;
  /** The access token, or a provider called before connecting and again after TOKEN_EXPIRED. */
  token: TokenSource;
  /** Where state is kept between runs. @defaultValue createMemoryClientStore() */
  store?: ClientStore;
  /** Shares one connection between instances (browser tabs). @defaultValue createSoloCoordinator() */
  coordinator?: TabCoordinator;
  /** Tells the client when the device goes on- or offline. @defaultValue always online */
  network?: NetworkMonitor;
  /** @defaultValue silent */
  logger?: ClientLogger;
  /** Identifies this device to the server. @defaultValue a random id, kept in the store's meta "deviceId" */
  deviceId?: string;
  /** Reconnect backoff: exponential with full jitter. */
  reconnect?: {
    /** @defaultValue 500 */
    initialDelayMs?: number;
    /** @defaultValue 30000 */
    maxDelayMs?: number;
  };
  /** Window in which automatic MarkDelivered calls are batched, in ms. @defaultValue 500 */
  deliveredDelayMs?: number;
  /** What a snapshot loads when the cache is rebuilt. */
  snapshot?: {
    /** @defaultValue 20 */
    messagesPerConversation?: number;
    /** @defaultValue 200 */
    conversationLimit?: number;
  };
  /** Connect as soon as the client is the leader. @defaultValue true */
  autoConnect?: boolean;
  /**
   * Reconnect when the sync stream brings nothing (not even a heartbeat) for this
   * long, in ms: a connection that died silently is noticed. Keep it above the
   * server's heartbeat interval (25 s on the reference server). 0 turns it off.
   * @defaultValue 60000
   */
  heartbeatTimeoutMs?: number;
}

/** Names a message: by seq, or by the client id of a send that has no seq yet. A `LocalMessage.message` fits. */
export interface MessageRef {
  readonly conversationId: string;
  readonly seq?: number;
  readonly clientMsgId?: string;
}

/** What the client tells its listeners. */
export interface ClientEvents {
  /** The connection state changed. */
  state: { state: ConnectionState; previous: ConnectionState; error?: ParleyError };
  /** A conversation was added or changed. */
  conversation: { conversation: Conversation };
  /** A conversation is gone (I left or was removed). */
  conversationRemoved: { conversationId: string };
  /** A message was created or updated, changed status, or a pending send was added. */
  message: { conversationId: string; message: LocalMessage };
  /** An outbox item was added, changed, or removed (answered or discarded). */
  outbox: { item: OutboxItem; removed: boolean };
  /** Who is typing in a conversation changed. */
  typing: { conversationId: string; userIds: string[] };
  /** A member's receipt watermarks rose. */
  receipt: { conversationId: string; userId: string; deliveredSeq: number; readSeq: number };
  /** The cache was rebuilt (from a snapshot, or reloaded when this instance became the leader): re-read everything. */
  resync: Record<string, never>;
  /** A non-fatal problem worth showing or logging. */
  error: { error: ParleyError };
}

/** A member's receipt watermarks. */
export interface Receipt {
  readonly userId: string;
  readonly deliveredSeq: number;
  readonly readSeq: number;
}

/** What to send. */
export interface SendInput {
  /** Up to 4,000 characters; may be empty when there is an attachment. */
  readonly text: string;
  /** Seq of the message replied to. @defaultValue 0 (none) */
  readonly replyToSeq?: number;
  readonly attachment?: AttachmentInput;
}

/**
 * A Parley client: an offline-first view of the user's conversations, kept
 * current by a sync stream, with a durable outbox for everything the user does.
 * Create it with {@link createParleyClient}.
 */
export interface ParleyClient {
  readonly userId: string;
  /** This device's id (known once {@link ParleyClient.ready} resolved). */
  readonly deviceId: string;
  readonly state: ConnectionState;
  /** True when this instance holds the connection (always, without a tab coordinator). */
  readonly isLeader: boolean;
  /** Resolves once the store is loaded and the cached state can be read. */
  ready(): Promise<void>;
  /**
   * Connects (only needed with `autoConnect: false`, or after an auth failure).
   * Resolves once the first attempt settled (live, or offline and retrying in the
   * background); rejects when the client closes instead (e.g. a bad token).
   */
  connect(): Promise<void>;
  /** Ends streams and timers, releases the coordinator and the store. Later calls reject with CLIENT_CLOSED. */
  close(): Promise<void>;
  /** Listens to an event; returns the unsubscribe handle. */
  on<K extends keyof ClientEvents>(event: K, listener: (e: ClientEvents[K]) => void): () => void;
  /** Cached conversations, newest activity first. */
  conversations(): Conversation[];
  conversation(id: string): Conversation | undefined;
  /** The direct conversation with a user (created on first use). Online. */
  createDirect(peerUserId: string): Promise<Conversation>;
  /** Creates a group with me as owner. Online; retried safely with one client id. */
  createGroup(input: { title: string; memberIds: string[] }): Promise<Conversation>;
  addMembers(conversationId: string, userIds: string[]): Promise<Conversation>;
  removeMember(conversationId: string, userId: string): Promise<Conversation>;
  leave(conversationId: string): Promise<void>;
  rename(conversationId: string, title: string): Promise<Conversation>;
  /** The cached window (ascending seq, my pending changes applied), then my pending and failed sends. */
  messages(conversationId: string): LocalMessage[];
  /** A page of history: from the cache when it holds the whole page, otherwise from the server. */
  history(conversationId: string, query?: HistoryQuery): Promise<HistoryPage>;
  /** Queues a message; resolves once it is durably in the outbox, with its pending view. */
  send(conversationId: string, input: SendInput): Promise<LocalMessage>;
  edit(ref: MessageRef, text: string): Promise<void>;
  delete(ref: MessageRef): Promise<void>;
  react(ref: MessageRef, emoji: string): Promise<void>;
  unreact(ref: MessageRef, emoji: string): Promise<void>;
  /** Marks read up to `seq` (default: the conversation's last seq). Shown at once, sent through the outbox. */
  markRead(conversationId: string, seq?: number): Promise<void>;
  /** Every member's watermarks (mine with a pending markRead applied). */
  receipts(conversationId: string): Receipt[];
  /** Every outbox item, pending and failed, in order. */
  outbox(): OutboxItem[];
  /** Sets a failed item pending again. */
  retry(id: string): Promise<void>;
  /** Deletes an item (a pending send disappears; a failed one is dropped). */
  discard(id: string): Promise<void>;
  /** Starts or stops my typing indicator (throttled). */
  setTyping(conversationId: string, typing: boolean): void;
  /** Who is typing in a conversation now (not me). */
  typing(conversationId: string): string[];
  getPresence(userIds: string[]): Promise<Presence[]>;
  /** Calls `listener` with the users' presence now and on every change; returns the unsubscribe handle. */
  watchPresence(userIds: string[], listener: (presence: Presence) => void): () => void;
}

function resolveOptions(options: ParleyClientOptions): ResolvedOptions {
  return {
    reconnect: {
      initialDelayMs: options.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 30_000,
    },
    deliveredDelayMs: options.deliveredDelayMs ?? 500,
    messagesPerConversation: options.snapshot?.messagesPerConversation ?? 20,
    conversationLimit: options.snapshot?.conversationLimit ?? 200,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 60_000,
    followRedirects: options.transportFor !== undefined,
    discovery: (options.discovery ?? false) && options.transportFor !== undefined,
  };
}

/**
 * Creates a client. It loads its store at once and, unless `autoConnect` is
 * false, connects as soon as it is the leader.
 *
 * @example
 * ```ts
 * const client = createParleyClient({ transport, userId: "alice", token: () => auth.token() });
 * await client.ready();
 * client.on("message", ({ message }) => render(message));
 * await client.send(conversationId, { text: "hello" });
 * ```
 */
export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  return new Client(options);
}

type AnyListener = (e: never) => void;

class Client implements ParleyClient, Core {
  readonly userId: string;
  readonly me: string;
  readonly data: ClientState = emptyState();
  readonly rpc: Rpc;
  readonly store: ClientStore;
  readonly logger: ClientLogger;
  readonly options: ResolvedOptions;
  readonly network: NetworkMonitor;

  private readonly coordinator: TabCoordinator;
  private readonly listeners = new Map<keyof ClientEvents, Set<AnyListener>>();
  private readonly syncEngine: SyncEngine;
  private readonly sender: OutboxSender;
  private readonly delivered: DeliveredReporter;
  private readonly typingTracker: TypingTracker;
  private readonly typingThrottle: TypingThrottle;
  private readonly presenceWatches = new Set<AbortController>();
  private readonly loaded: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  private connection: ConnectionState = "idle";
  private device = "";
  private leader = false;
  private loadDone = false;
  private wanted: boolean;
  private fatalError: ParleyError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private storeClosed = false;
  private buffered: TabMessage[] | undefined = [];
  /** Counts message and conversation writes; with `written`, tells online answers from staler state. */
  private clock = 0;
  /** Key → clock of its last write, oldest first; only kept while some mark is taken. */
  private readonly written = new Map<string, number>();
  /** Marks taken and not yet released, with how many times each. */
  private readonly marks = new Map<number, number>();
  private readonly tokens: TokenCache;
  private readonly messageViews = new Map<string, LocalMessage[]>();
  private conversationList: Conversation[] | undefined;
  private readonly liveWaiters = new Set<() => void>();
  /** SyncService clients on other gateways, by base URL. */
  private readonly gateways = new Map<string, ConnectClient<typeof SyncService>>();

  constructor(private readonly init: ParleyClientOptions) {
    this.userId = init.userId;
    this.me = init.userId;
    this.options = resolveOptions(init);
    this.logger = (init.logger ?? silentLogger).withContext({ userId: init.userId });
    this.network = init.network ?? alwaysOnline;
    this.store = init.store ?? createMemoryClientStore();
    this.coordinator = init.coordinator ?? createSoloCoordinator();
    this.tokens = createTokenCache(init.token);
    this.rpc = createRpc(createAuthTransport(init.transport, this.tokens));
    this.wanted = init.autoConnect ?? true;
    this.syncEngine = new SyncEngine(this);
    this.sender = new OutboxSender(this);
    this.delivered = new DeliveredReporter(this);
    this.typingTracker = new TypingTracker(this.me, (conversationId, userIds) =>
      this.emit("typing", { conversationId, userIds }),
    );
    this.typingThrottle = new TypingThrottle((conversationId, typing) => {
      this.rpc.presence.setTyping({ conversationId, typing }).catch((err: unknown) => {
        this.logger.debug("set typing failed", { reason: toParleyError(err).reason });
      });
    });
    this.loaded = this.load();
    this.loaded.catch((err: unknown) => this.logger.error("unable to load the store", { err }));
    this.coordinator.start({
      onLeader: () => this.onLeader(),
      onMessage: (message) => this.onTabMessage(message),
    });
    this.coordinator.broadcast({ type: "hello" } satisfies TabMessage);
  }

  // ---- lifecycle ------------------------------------------------------------

  get deviceId(): string {
    return this.device;
  }

  get state(): ConnectionState {
    return this.connection;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  ready(): Promise<void> {
    return this.loaded;
  }

  private async load(): Promise<void> {
    await this.loadFromStore();
    const meta: Record<string, string> = {};
    const owner = this.data.meta.get("userId");
    let batch: StoreBatch = {};
    if (owner !== undefined && owner !== this.me) {
      // The store holds another user's data: it is not shown, and not sent as this user.
      this.logger.warn("the store belongs to another user; starting over", { owner });
      batch = { reset: true, deleteOutbox: [...this.data.outbox.keys()] };
      this.data.meta.delete("deviceId");
    }
    if (owner !== this.me) meta.userId = this.me;
    const stored = this.data.meta.get("deviceId");
    this.device = this.init.deviceId ?? stored ?? `d${ulid()}`;
    if (stored !== this.device) meta.deviceId = this.device;
    if (Object.keys(meta).length > 0) batch = { ...batch, meta };
    if (!isEmptyBatch(batch)) {
      await this.store.write(batch);
      applyBatch(this.data, batch);
      this.invalidateAll();
    }
    this.loadDone = true;
    const buffered = this.buffered ?? [];
    this.buffered = undefined;
    for (const message of buffered) this.handleTabMessage(message);
  }

  /** Replaces the in-memory state with the store's (without events). */
  private async loadFromStore(): Promise<void> {
    const stored = await this.store.load();
    const windows = await Promise.all(
      stored.conversations.map((c) =>
        this.store.messages(c.conversationId, {
          limit: this.options.messagesPerConversation,
          from: "newest",
        }),
      ),
    );
    loadState(this.data, stored);
    applyBatch(this.data, { messages: windows.flat() });
    this.invalidateAll();
  }

  async connect(): Promise<void> {
    if (this.closed) throw closedError("connect");
    this.wanted = true;
    await this.loaded;
    // Lets a leadership granted meanwhile (at once for a solo coordinator) take effect first.
    await this.queue;
    if (this.closed) throw closedError("connect");
    if (!this.leader) return;
    this.fatalError = undefined;
    this.startEngines();
    this.syncEngine.wake();
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.closed) return finish(() => reject(closedError("connect")));
        if (this.fatalError) {
          const error = this.fatalError;
          return finish(() => reject(error));
        }
        if (this.connection === "live" || this.connection === "offline") return finish(resolve);
      };
      const off = this.on("state", check);
      const finish = (done: () => void) => {
        off();
        done();
      };
      check();
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const previous = this.connection;
    this.closed = true;
    this.wanted = false;
    for (const wake of this.liveWaiters) wake();
    for (const watch of this.presenceWatches) watch.abort();
    this.presenceWatches.clear();
    this.typingTracker.clear();
    this.typingThrottle.clear();
    await this.syncEngine.dispose();
    await this.stopEngines();
    await this.queue.catch(() => {});
    this.connection = "closed";
    if (previous !== "closed") this.emit("state", { state: "closed", previous });
    await this.coordinator.close();
    this.storeClosed = true;
    await this.store.close().catch((err: unknown) => this.logger.warn("closing the store failed", { err }));
  }

  private startEngines(): void {
    if (this.closed || !this.leader || !this.wanted || this.fatalError) return;
    this.delivered.start();
    this.sender.start();
    this.syncEngine.start();
  }

  private async stopEngines(): Promise<void> {
    this.delivered.stop();
    await this.syncEngine.stop();
    await this.sender.stop();
  }

  // ---- tabs -----------------------------------------------------------------

  private onLeader(): void {
    const reload = this.loadDone;
    this.enqueue(async () => {
      await this.loaded;
      if (this.closed) return;
      if (reload) {
        // Followers mirror the leader's broadcasts; the store is the truth when taking over.
        await this.loadFromStore();
        this.emit("resync", {});
      }
      this.leader = true;
      this.logger.debug("leading", { reload });
      this.broadcast({ type: "state", state: this.connection });
      this.startEngines();
    }).catch((err: unknown) => this.reportError(toParleyError(err, "take over the connection")));
  }

  private onTabMessage(message: unknown): void {
    if (!isTabMessage(message)) return;
    if (this.buffered) {
      this.buffered.push(message);
      return;
    }
    this.handleTabMessage(message);
  }

  private handleTabMessage(message: TabMessage): void {
    if (this.closed) return;
    switch (message.type) {
      case "batch":
        if (!this.leader) void this.applyLocal(message.batch);
        return;
      case "state":
        if (!this.leader) this.setConnectionState(message.state);
        return;
      case "typing":
        if (!this.leader) this.typingTracker.receive(message.conversationId, message.userId, message.typing);
        return;
      case "outbox":
        void this.applyLocal({ outbox: [message.item] });
        return;
      case "discard":
        void this.applyLocal({ deleteOutbox: [message.id] });
        return;
      case "hello":
        if (this.leader) this.broadcast({ type: "state", state: this.connection });
        return;
    }
  }

  private broadcast(message: TabMessage): void {
    this.coordinator.broadcast(message);
  }

  // ---- state changes --------------------------------------------------------

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  commit(build: (state: ClientState) => StoreBatch | undefined): Promise<void> {
    return this.enqueue(async () => {
      if (this.storeClosed) throw closedError("write");
      const batch = build(this.data);
      if (!batch || isEmptyBatch(batch)) return;
      await this.store.write(batch);
      const changes = applyBatch(this.data, batch);
      if (this.leader) {
        this.broadcast({ type: "batch", batch });
      } else {
        for (const item of batch.outbox ?? []) this.broadcast({ type: "outbox", item });
        for (const id of batch.deleteOutbox ?? []) this.broadcast({ type: "discard", id });
      }
      this.changed(changes);
    });
  }

  /** Applies a batch to memory only (a broadcast, or data already in the store or not to be stored). */
  private applyLocal(batch: StoreBatch): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed || isEmptyBatch(batch)) return;
      this.changed(applyBatch(this.data, batch));
    });
  }

  /** A write by the user's action: through the store (any instance may write outbox items). */
  private async userWrite(
    operation: string,
    build: (state: ClientState) => StoreBatch | undefined,
  ): Promise<void> {
    if (this.closed) throw closedError(operation);
    await this.loaded;
    await this.commit(build);
  }

  /** Puts conversations from unary answers, unless a newer state was written meanwhile. */
  private async putConversations(conversations: Conversation[], mark: number): Promise<void> {
    const build = (state: ClientState): StoreBatch | undefined => {
      const fresh = conversations
        .filter((c) => !this.writtenSince(c.conversationId, mark))
        .map((c) => mergeConversation(c, state.conversations.get(c.conversationId)));
      return fresh.length > 0 ? { conversations: fresh } : undefined;
    };
    if (this.leader) await this.commit(build);
    else {
      const batch = build(this.data);
      if (batch) await this.applyLocal(batch);
    }
  }

  /** Records writes for {@link Client.writtenSince}, keeping only what a taken mark can ask about. */
  private recordWrites(changes: StateChanges): void {
    const keys = [
      ...changes.messages.map((m) => messageKey(m.conversationId, m.seq)),
      ...changes.conversations.map((c) => c.next.conversationId),
      ...changes.removedConversations,
    ];
    if (this.marks.size === 0) {
      this.written.clear();
      this.clock += keys.length;
      return;
    }
    for (const key of keys) {
      this.written.delete(key);
      this.written.set(key, ++this.clock);
    }
    const oldest = Math.min(...this.marks.keys());
    for (const [key, clock] of this.written) {
      if (clock > oldest) break;
      this.written.delete(key);
    }
  }

  private changed(changes: StateChanges): void {
    this.recordWrites(changes);
    if (changes.reset) this.invalidateAll();
    else {
      for (const id of changes.touched) this.messageViews.delete(id);
      this.conversationList = undefined;
    }
    if (this.leader && changes.outboxPut.some((p) => p.next.status === "pending")) this.sender.kick();
    this.emitChanges(changes);
  }

  private invalidateAll(): void {
    this.messageViews.clear();
    this.conversationList = undefined;
  }

  private emitChanges(changes: StateChanges): void {
    if (changes.reset) this.emit("resync", {});
    for (const id of changes.removedConversations) this.emit("conversationRemoved", { conversationId: id });
    const conversationIds = new Set<string>();
    if (!changes.reset) for (const c of changes.conversations) conversationIds.add(c.next.conversationId);
    const messageKeys = new Map<string, Set<string>>();
    const touch = (conversationId: string, key: string) => {
      let keys = messageKeys.get(conversationId);
      if (!keys) {
        keys = new Set();
        messageKeys.set(conversationId, keys);
      }
      keys.add(key);
    };
    if (!changes.reset) {
      for (const m of changes.messages) touch(m.conversationId, `s${m.seq}`);
      for (const { next, previous } of changes.conversations) {
        if (!previous) continue;
        for (const m of this.data.messages.get(next.conversationId)?.values() ?? []) {
          if (
            m.senderId === this.me &&
            messageStatus(previous, m, this.me) !== messageStatus(next, m, this.me)
          ) {
            touch(next.conversationId, `s${m.seq}`);
          }
        }
      }
    }
    for (const item of [...changes.outboxPut.map((p) => p.next), ...changes.outboxRemoved]) {
      const op = item.op;
      if (op.kind === "send") touch(item.conversationId, `c${item.id}`);
      else if (op.kind === "markRead") conversationIds.add(item.conversationId);
      else touch(item.conversationId, "seq" in op.target ? `s${op.target.seq}` : `c${op.target.clientMsgId}`);
    }
    for (const id of conversationIds) {
      const conversation = this.conversation(id);
      if (conversation) this.emit("conversation", { conversation });
    }
    for (const [conversationId, keys] of messageKeys) {
      for (const local of this.messages(conversationId)) {
        const m = local.message;
        if (keys.has(`s${m.seq}`) || (m.clientMsgId !== "" && keys.has(`c${m.clientMsgId}`))) {
          this.emit("message", { conversationId, message: local });
        }
      }
    }
    // Messages written outside the window (e.g. a reaction to an old message) are still news.
    if (!changes.reset) {
      for (const m of changes.messages) {
        if (this.data.messages.get(m.conversationId)?.get(m.seq) === m) continue;
        this.emit("message", {
          conversationId: m.conversationId,
          message: confirmedMessage(this.data, m, this.me),
        });
      }
    }
    for (const item of changes.outboxRemoved) {
      if (!changes.outboxPut.some((p) => p.next.id === item.id)) this.emit("outbox", { item, removed: true });
    }
    for (const { next } of changes.outboxPut) this.emit("outbox", { item: next, removed: false });
    for (const r of changes.receipts) this.emit("receipt", { ...r });
  }

  // ---- Core -----------------------------------------------------------------

  connectionState(): ConnectionState {
    return this.connection;
  }

  setConnectionState(state: ConnectionState, error?: ParleyError): void {
    if (this.closed) return;
    const previous = this.connection;
    if (previous === state && !error) return;
    this.connection = state;
    if (this.leader) this.broadcast({ type: "state", state });
    if (state === "live") for (const wake of [...this.liveWaiters]) wake();
    this.emit("state", error ? { state, previous, error } : { state, previous });
  }

  whenLive(signal: AbortSignal): Promise<void> {
    if (this.connection === "live" && !signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.liveWaiters.delete(done);
        signal.removeEventListener("abort", done);
        if (signal.aborted || this.closed) reject(closedError("wait for the connection"));
        else resolve();
      };
      if (signal.aborted) return done();
      this.liveWaiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  currentDeviceId(): string {
    return this.device;
  }

  gatewaySync(baseUrl: string): ConnectClient<typeof SyncService> | undefined {
    const transportFor = this.init.transportFor;
    if (!transportFor) return undefined;
    let sync = this.gateways.get(baseUrl);
    if (!sync) {
      sync = createClient(SyncService, createAuthTransport(transportFor(baseUrl), this.tokens));
      this.gateways.set(baseUrl, sync);
    }
    return sync;
  }

  mark(): number {
    const mark = this.clock;
    this.marks.set(mark, (this.marks.get(mark) ?? 0) + 1);
    return mark;
  }

  release(mark: number): void {
    const count = this.marks.get(mark) ?? 0;
    if (count <= 1) this.marks.delete(mark);
    else this.marks.set(mark, count - 1);
  }

  async refreshToken(): Promise<void> {
    await this.tokens.refresh();
  }

  writtenSince(key: string, mark: number): boolean {
    return (this.written.get(key) ?? 0) > mark;
  }

  fatal(error: ParleyError): void {
    this.logger.error("connection stopped", { reason: error.reason, message: error.message });
    this.fatalError = error;
    this.setConnectionState("closed", error);
    void this.stopEngines();
  }

  reportError(error: ParleyError): void {
    this.logger.warn(error.message, { reason: error.reason });
    this.emit("error", { error });
  }

  eventsApplied(conversationIds: Iterable<string>): void {
    this.delivered.note(conversationIds);
  }

  becameLive(): void {
    this.delivered.all();
    this.sender.kick();
  }

  typingReceived(conversationId: string, userId: string, typing: boolean): void {
    if (userId === this.me) return;
    this.typingTracker.receive(conversationId, userId, typing);
    this.broadcast({ type: "typing", conversationId, userId, typing });
  }

  // ---- events ---------------------------------------------------------------

  on<K extends keyof ClientEvents>(event: K, listener: (e: ClientEvents[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const entry = listener as AnyListener;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  private emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (e: ClientEvents[K]) => void)(payload);
      } catch (err) {
        this.logger.error("an event listener threw", { event, err });
      }
    }
  }

  // ---- reading --------------------------------------------------------------

  conversations(): Conversation[] {
    this.conversationList ??= [...this.data.conversations.values()]
      .map((c) => conversationView(this.data, c))
      .sort(byActivity);
    return this.conversationList;
  }

  conversation(id: string): Conversation | undefined {
    const cached = this.data.conversations.get(id);
    return cached ? conversationView(this.data, cached) : undefined;
  }

  messages(conversationId: string): LocalMessage[] {
    let view = this.messageViews.get(conversationId);
    if (!view) {
      view = conversationMessages(this.data, conversationId, this.me);
      this.messageViews.set(conversationId, view);
    }
    return view;
  }

  receipts(conversationId: string): Receipt[] {
    const conversation = this.data.conversations.get(conversationId);
    if (!conversation) return [];
    const pending = pendingReadSeq(this.data, conversationId);
    return conversation.members.map((m) => {
      const readSeq =
        m.userId === this.me ? Math.max(m.readSeq, Math.min(pending, conversation.lastSeq)) : m.readSeq;
      return { userId: m.userId, deliveredSeq: Math.max(m.deliveredSeq, readSeq), readSeq };
    });
  }

  outbox(): OutboxItem[] {
    return sortedOutbox(this.data);
  }

  typing(conversationId: string): string[] {
    return this.typingTracker.list(conversationId);
  }

  async history(conversationId: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    if (this.closed) throw closedError("get history");
    await this.loaded;
    const limit = Math.max(1, Math.min(HISTORY_MAX_LIMIT, Math.floor(query.limit ?? HISTORY_DEFAULT_LIMIT)));
    const conversation = this.data.conversations.get(conversationId);
    if (conversation) {
      const page = await historyFromCache(this.store, conversationId, query, limit, conversation.lastSeq);
      if (page) {
        // A cached page right below (or inside) the window extends it; one further down is only returned.
        const window = this.data.messages.get(conversationId);
        const oldest = window ? oldestSeq(window) : Number.POSITIVE_INFINITY;
        const last = page.messages.at(-1)?.seq ?? 0;
        const missing = page.messages.filter((m) => !window?.has(m.seq));
        if (missing.length > 0 && (oldest === Number.POSITIVE_INFINITY || last >= oldest - 1))
          await this.applyLocal({ messages: missing });
        return page;
      }
    }
    const mark = this.mark();
    try {
      return await this.historyFromNetwork(conversationId, query, limit, mark);
    } finally {
      this.release(mark);
    }
  }

  private async historyFromNetwork(
    conversationId: string,
    query: HistoryQuery,
    limit: number,
    mark: number,
  ): Promise<HistoryPage> {
    let anchor: { case: "beforeSeq" | "afterSeq" | "aroundSeq"; value: number } | undefined;
    if (query.before !== undefined) anchor = { case: "beforeSeq", value: query.before };
    else if (query.after !== undefined) anchor = { case: "afterSeq", value: query.after };
    else if (query.around !== undefined) anchor = { case: "aroundSeq", value: query.around };
    let res: Awaited<ReturnType<Rpc["messages"]["getHistory"]>>;
    try {
      res = await this.rpc.messages.getHistory({
        conversationId,
        limit,
        anchor: anchor ?? { case: undefined },
      });
    } catch (err) {
      throw toParleyError(err, "get history");
    }
    const build = (state: ClientState): StoreBatch | undefined => {
      if (!state.conversations.has(conversationId)) return undefined;
      const fresh = res.messages.filter((m) => !this.writtenSince(messageKey(conversationId, m.seq), mark));
      return fresh.length > 0 ? { messages: fresh } : undefined;
    };
    if (this.leader) await this.commit(build);
    else {
      const batch = build(this.data);
      if (batch) await this.applyLocal(batch);
    }
    return {
      messages: res.messages,
      hasMoreBefore: res.hasMoreBefore,
      hasMoreAfter: res.hasMoreAfter,
      source: "network",
    };
  }

  // ---- outbox ---------------------------------------------------------------

  private newItem(conversationId: string, op: OutboxOp): OutboxItem {
    return { id: ulid(), conversationId, op, createdAt: Date.now(), status: "pending", attempts: 0 };
  }

  async send(conversationId: string, input: SendInput): Promise<LocalMessage> {
    const item = this.newItem(conversationId, {
      kind: "send",
      text: input.text,
      replyToSeq: input.replyToSeq ?? 0,
      ...(input.attachment ? { attachment: { ...input.attachment } } : {}),
    });
    await this.userWrite("send message", () => ({ outbox: [item] }));
    const local = this.messages(conversationId).find((m) => m.message.clientMsgId === item.id);
    if (!local) throw new ParleyError("UNKNOWN", "unable to send message; the queued message is not in view");
    return local;
  }

  private target(ref: MessageRef, operation: string): MessageTarget {
    if (ref.seq !== undefined && ref.seq > 0) return { seq: ref.seq };
    const clientMsgId = ref.clientMsgId ?? "";
    if (clientMsgId === "") {
      throw new ParleyError(
        "FIELD_REQUIRED",
        `unable to ${operation}; the message ref needs a seq or a clientMsgId`,
        {
          field: "seq",
        },
      );
    }
    for (const m of this.data.messages.get(ref.conversationId)?.values() ?? []) {
      if (m.clientMsgId === clientMsgId && m.seq > 0) return { seq: m.seq };
    }
    return { clientMsgId };
  }

  async edit(ref: MessageRef, text: string): Promise<void> {
    const target = this.target(ref, "edit message");
    const item = this.newItem(ref.conversationId, { kind: "edit", target, text });
    await this.userWrite("edit message", () => ({ outbox: [item] }));
  }

  async delete(ref: MessageRef): Promise<void> {
    const target = this.target(ref, "delete message");
    const item = this.newItem(ref.conversationId, { kind: "delete", target });
    await this.userWrite("delete message", () => ({ outbox: [item] }));
  }

  react(ref: MessageRef, emoji: string): Promise<void> {
    return this.reaction(ref, emoji, true);
  }

  unreact(ref: MessageRef, emoji: string): Promise<void> {
    return this.reaction(ref, emoji, false);
  }

  private async reaction(ref: MessageRef, emoji: string, add: boolean): Promise<void> {
    const operation = add ? "add reaction" : "remove reaction";
    const target = this.target(ref, operation);
    const item = this.newItem(ref.conversationId, { kind: "react", target, emoji, add });
    await this.userWrite(operation, () => ({ outbox: [item] }));
  }

  async markRead(conversationId: string, seq?: number): Promise<void> {
    await this.userWrite("mark read", (state) => {
      const conversation = state.conversations.get(conversationId);
      const target = seq ?? conversation?.lastSeq ?? 0;
      if (target <= 0) return undefined;
      const pending = [...state.outbox.values()].filter(
        (i) => i.conversationId === conversationId && i.status === "pending" && i.op.kind === "markRead",
      );
      const highest = Math.max(target, ...pending.map((i) => (i.op.kind === "markRead" ? i.op.seq : 0)));
      if (highest <= (conversation?.myReadSeq ?? 0)) return undefined;
      if (pending.some((i) => i.op.kind === "markRead" && i.op.seq === highest)) return undefined;
      return {
        deleteOutbox: pending.map((i) => i.id),
        outbox: [this.newItem(conversationId, { kind: "markRead", seq: highest })],
      };
    });
  }

  async retry(id: string): Promise<void> {
    await this.userWrite("retry outbox item", (state) => {
      const item = state.outbox.get(id);
      if (item?.status !== "failed") return undefined;
      const { failure: _failure, ...rest } = item;
      return { outbox: [{ ...rest, status: "pending" }] };
    });
  }

  async discard(id: string): Promise<void> {
    await this.userWrite("discard outbox item", (state) =>
      state.outbox.has(id) ? { deleteOutbox: [id] } : undefined,
    );
  }

  // ---- online calls ---------------------------------------------------------

  private async online<T>(operation: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError(operation);
    await this.loaded;
    try {
      return await call();
    } catch (err) {
      throw toParleyError(err, operation);
    }
  }

  private async conversationCall(
    operation: string,
    call: () => Promise<{ conversation?: Conversation }>,
  ): Promise<Conversation> {
    const mark = this.mark();
    const res = await this.online(operation, call);
    const conversation = res.conversation;
    if (!conversation)
      throw new ParleyError("INTERNAL", `unable to ${operation}; the answer has no conversation`);
    await this.putConversations([conversation], mark);
    return this.conversation(conversation.conversationId) ?? conversation;
  }

  createDirect(peerUserId: string): Promise<Conversation> {
    return this.conversationCall("create direct conversation", () =>
      this.rpc.conversations.createDirect({ peerUserId }),
    );
  }

  createGroup(input: { title: string; memberIds: string[] }): Promise<Conversation> {
    const clientId = ulid();
    return this.conversationCall("create group", async () => {
      // Retries with the same client id land on the same group.
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.rpc.conversations.createGroup({
            clientId,
            title: input.title,
            memberIds: input.memberIds,
          });
        } catch (err) {
          const error = toParleyError(err, "create group");
          if (!error.retryable || attempt >= 2 || this.closed) throw error;
          await interruptibleSleep(backoffDelay(this.options.reconnect, attempt)).promise;
        }
      }
    });
  }

  addMembers(conversationId: string, userIds: string[]): Promise<Conversation> {
    return this.conversationCall("add members", () =>
      this.rpc.conversations.addMembers({ conversationId, userIds }),
    );
  }

  removeMember(conversationId: string, userId: string): Promise<Conversation> {
    return this.conversationCall("remove member", () =>
      this.rpc.conversations.removeMember({ conversationId, userId }),
    );
  }

  rename(conversationId: string, title: string): Promise<Conversation> {
    return this.conversationCall("rename conversation", () =>
      this.rpc.conversations.rename({ conversationId, title }),
    );
  }

  async leave(conversationId: string): Promise<void> {
    await this.online("leave conversation", () => this.rpc.conversations.leave({ conversationId }));
    const batch: StoreBatch = { deleteConversations: [conversationId] };
    if (this.leader)
      await this.commit((state) => (state.conversations.has(conversationId) ? batch : undefined));
    else await this.applyLocal(batch);
  }

  // ---- typing and presence --------------------------------------------------

  setTyping(conversationId: string, typing: boolean): void {
    if (this.closed) return;
    this.typingThrottle.set(conversationId, typing);
  }

  async getPresence(userIds: string[]): Promise<Presence[]> {
    const res = await this.online("get presence", () => this.rpc.presence.getPresence({ userIds }));
    return res.presence;
  }

  watchPresence(userIds: string[], listener: (presence: Presence) => void): () => void {
    if (this.closed) throw closedError("watch presence");
    const controller = new AbortController();
    this.presenceWatches.add(controller);
    void watchPresenceLoop(this, [...userIds], listener, controller.signal).finally(() =>
      this.presenceWatches.delete(controller),
    );
    return () => controller.abort();
  }
}

function isEmptyBatch(batch: StoreBatch): boolean {
  return (
    !batch.reset &&
    batch.cursor === undefined &&
    !batch.conversations?.length &&
    !batch.deleteConversations?.length &&
    !batch.messages?.length &&
    !batch.outbox?.length &&
    !batch.deleteOutbox?.length &&
    (!batch.meta || Object.keys(batch.meta).length === 0)
  );
}
