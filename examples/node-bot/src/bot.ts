/**
 * A Parley bot in one file: it logs in, follows its event stream and answers
 * every message other users send it.
 *
 * The interesting parts for a bot author are how it stays correct across
 * reconnects and restarts:
 *
 * - It keeps the cursor of the last event it handled and resubscribes from it
 *   after a stream error (exponential backoff with full jitter), so the server
 *   replays whatever it missed.
 * - It remembers, per conversation, the highest seq it has handled, so a
 *   replayed event is never answered twice.
 * - Its reply's client_msg_id is derived from (conversation, seq): if it crashes
 *   after sending but before recording that, the retry is deduplicated by the
 *   server instead of producing a second reply.
 * - On a cold start (no cursor yet) it takes a snapshot and answers what arrived
 *   while it was down, then subscribes from the snapshot's cursor.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AuthService,
  type Conversation,
  ErrorReason,
  LIMITS,
  type Message,
  MessageService,
  PresenceService,
  REASONS,
  reasonName,
  reasonOf,
  SyncService,
} from "@parley/protocol";

/** The bot's brain: the text to answer `message` with, or `undefined` to stay silent. */
export type ReplyFn = (message: Message) => string | undefined | Promise<string | undefined>;

/** Where the bot writes what it is doing. `console` fits; so do most logging libraries. */
export interface BotLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options for {@link createBot}. */
export interface BotOptions {
  /** The Parley server, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** The bot's user id (1-64 characters of `[A-Za-z0-9_.@-]`). */
  userId: string;
  /**
   * A token for `userId` from your identity provider. When absent the bot calls
   * AuthService.DevLogin, which only development servers allow.
   */
  token?: string;
  /** The bot's brain. Defaults to {@link echoReply}. */
  reply?: ReplyFn;
  /** Defaults to a console logger that leaves out debug lines. */
  logger?: BotLogger;
}

/** A running (or runnable) bot. */
export interface Bot {
  /**
   * Logs in, answers what arrived while the bot was away and subscribes.
   * Resolves once the bot is live (or stopped); it then keeps running in the
   * background until {@link Bot.stop}. Rejects if it cannot ever work (for
   * example the token is invalid or dev login is disabled).
   */
  start(): Promise<void>;
  /** Stops the bot: cancels the stream and any call in flight. Resolves once it has stopped. */
  stop(): Promise<void>;
  /**
   * Settles when the bot stops: resolves after {@link Bot.stop}, rejects with
   * the error that stopped it otherwise.
   */
  readonly done: Promise<void>;
}

/** The line the echo bot answers `/help` with. */
export const HELP_TEXT = "I am an echo bot: send me any text and I will send it back. /help shows this line.";

/** The default brain: answers `/help` with {@link HELP_TEXT} and anything else with `echo: <text>`. */
export const echoReply: ReplyFn = (message) => {
  const text = message.text.trim();
  if (text === "") return undefined; // e.g. an attachment without text
  if (text === "/help") return HELP_TEXT;
  return `echo: ${message.text}`;
};

/** How many of each conversation's newest messages a cold start looks at. */
const CATCH_UP_MESSAGES = 50;
/** Reconnect delays: the n-th retry waits a random time in [0, min(MAX, BASE * 2^n)). */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** The server sends a heartbeat every 25 s; a stream silent for longer than this is presumed dead. */
const STREAM_IDLE_MS = 60_000;

/**
 * The client_msg_id of the bot's reply to message `seq` of `conversationId`.
 * The same message always gets the same id, so a retried send is deduplicated
 * by the server. Ids are at most 64 characters: the seq goes first so that
 * trimming a long conversation id cannot make two replies share an id (the
 * server scopes ids per conversation anyway).
 */
export function replyClientMsgId(conversationId: string, seq: number): string {
  return `bot-${seq}-${conversationId}`.slice(0, LIMITS.maxClientIdLength);
}

/** Creates a bot; nothing happens until {@link Bot.start}. */
export function createBot(options: BotOptions): Bot {
  const { userId } = options;
  const reply = options.reply ?? echoReply;
  const log = options.logger ?? consoleLogger;

  // One transport for all services. The interceptor adds the current token to every call.
  let token = options.token;
  const auth: Interceptor = (next) => (req) => {
    if (token !== undefined) req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: options.baseUrl,
    httpVersion: "1.1",
    interceptors: [auth],
  });
  const clients = {
    auth: createClient(AuthService, transport),
    sync: createClient(SyncService, transport),
    messages: createClient(MessageService, transport),
    presence: createClient(PresenceService, transport),
  };

  // Stopping aborts this signal; every call below passes it on.
  const stopper = new AbortController();
  const signal = stopper.signal;

  /** Resume point: the cursor of the last event handled. Undefined until the first snapshot. */
  let cursor: string | undefined;
  /** Per conversation, the highest seq already handled (answered, or deliberately skipped). */
  const handled = new Map<string, number>();

  let running: Promise<void> | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => {}); // observed through start() or by whoever awaits `done`

  /** Answers one message (at most once), then marks it read. */
  async function handle(message: Message): Promise<void> {
    const { conversationId, seq } = message;
    if (message.senderId === userId) return; // our own replies come back on the stream too
    if ((handled.get(conversationId) ?? 0) >= seq) return; // replayed after a reconnect: already done

    await setTyping(conversationId, true);
    try {
      const text = await think(message);
      if (text !== undefined && text !== "") {
        await clients.messages.sendMessage(
          { conversationId, clientMsgId: replyClientMsgId(conversationId, seq), text, replyToSeq: seq },
          { signal },
        );
        log.debug("replied", { conversationId, seq });
      }
      await clients.messages.markRead({ conversationId, seq }, { signal });
    } catch (err) {
      // A passing problem (network, server restarting): give up on this stream.
      // The loop resubscribes from the cursor before this event, so it comes again.
      if (isRetryable(err)) throw err;
      // Anything else will not get better by retrying (e.g. we were removed
      // from the group): note it and move on.
      log.warn("could not answer message; skipping it", { conversationId, seq, error: describe(err) });
    } finally {
      await setTyping(conversationId, false);
    }
    handled.set(conversationId, seq);
  }

  /** Asks the brain, treating a throwing brain as "no answer" (retrying would throw again). */
  async function think(message: Message): Promise<string | undefined> {
    try {
      return await reply(message);
    } catch (err) {
      log.error("reply function failed", {
        conversationId: message.conversationId,
        seq: message.seq,
        error: describe(err),
      });
      return undefined;
    }
  }

  /** Typing indicators are cosmetic: failures are only logged. */
  async function setTyping(conversationId: string, typing: boolean): Promise<void> {
    if (signal.aborted) return;
    try {
      await clients.presence.setTyping({ conversationId, typing }, { signal });
    } catch (err) {
      log.debug("set typing failed", { conversationId, error: describe(err) });
    }
  }

  /** Gets a token with DevLogin when none was given. */
  async function login(): Promise<void> {
    if (token !== undefined) return;
    const res = await clients.auth.devLogin({ userId, displayName: userId }, { signal });
    token = res.token;
    log.info("logged in with DevLogin", { userId });
  }

  /**
   * Cold start: answers what arrived while the bot was away and returns the cursor
   * to subscribe from. Events after that cursor may repeat messages seen here;
   * {@link handle} drops them.
   */
  async function catchUp(): Promise<string> {
    const snapshot = await clients.sync.getSnapshot(
      { messagesPerConversation: CATCH_UP_MESSAGES },
      { signal },
    );
    for (const { conversation, messages } of snapshot.conversations) {
      if (!conversation) continue;
      const pending = unanswered(conversation, messages, userId);
      if (pending.length > 0) {
        log.info("catching up", { conversationId: conversation.conversationId, messages: pending.length });
      }
      for (const message of pending) await handle(message);
    }
    return snapshot.cursor;
  }

  /** Follows the stream from `from` until it ends or fails. Calls `onLive` on each caught-up marker. */
  async function follow(from: string, onLive: () => void): Promise<void> {
    // A per-stream signal, so the watchdog can drop a silent connection without stopping the bot.
    const stream = new AbortController();
    const streamSignal = AbortSignal.any([signal, stream.signal]);
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => stream.abort(new Error("stream idle")), STREAM_IDLE_MS);
    };
    arm();
    try {
      for await (const res of clients.sync.subscribe(
        { cursor: from, deviceId: "node-bot" },
        { signal: streamSignal },
      )) {
        clearTimeout(watchdog); // answering may take a while (a slow brain): do not count that as idle
        switch (res.kind.case) {
          case "caughtUp":
            cursor = res.kind.value.cursor;
            onLive();
            break;
          case "event": {
            const event = res.kind.value;
            if (event.payload.case === "messageCreated" && event.payload.value.message) {
              await handle(event.payload.value.message);
            }
            // Only now is the event done: a crash before this line replays it.
            cursor = event.cursor;
            break;
          }
          default:
            // Typing indicators and heartbeats: nothing to do, they just prove the stream is alive.
            break;
        }
        arm();
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  /** The bot's life: (re)connect until stopped or a fatal error. */
  async function run(onLive: () => void): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        await login();
        cursor ??= await catchUp();
        await follow(cursor, () => {
          attempt = 0; // a healthy connection resets the backoff
          log.info("live: following the event stream", { userId });
          onLive();
        });
        log.info("stream ended; reconnecting");
      } catch (err) {
        if (signal.aborted) break;
        const reason = reasonOf(err);
        if (reason === ErrorReason.RESYNC_REQUIRED || reason === ErrorReason.CURSOR_INVALID) {
          // Our cursor is too old (or from another server): start over from a snapshot.
          log.warn("cursor no longer usable; catching up from a snapshot", { error: describe(err) });
          cursor = undefined;
        } else if (reason === ErrorReason.TOKEN_EXPIRED && options.token === undefined) {
          log.info("token expired; logging in again");
          token = undefined;
        } else if (!isRetryable(err)) {
          throw err;
        } else {
          log.warn("connection problem; will retry", { error: describe(err), attempt });
        }
      }
      // Exponential backoff with full jitter: spreads reconnecting bots out after an outage.
      const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
      attempt++;
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        break; // stopped while waiting
      }
    }
  }

  return {
    done,

    start() {
      if (running) return Promise.reject(new Error("bot already started"));
      return new Promise<void>((resolve, reject) => {
        log.info("bot starting", { userId, baseUrl: options.baseUrl });
        running = run(() => resolve()).then(
          () => {
            log.info("bot stopped", { userId });
            resolve(); // stopped before it went live
            resolveDone();
          },
          (err: unknown) => {
            log.error("bot stopped on an error", { userId, error: describe(err) });
            reject(err);
            rejectDone(err);
          },
        );
      });
    },

    async stop() {
      stopper.abort();
      if (!running) resolveDone();
      await running;
    },
  };
}

/**
 * The messages of one snapshot conversation the bot has not handled yet.
 *
 * Its read watermark says how far it got, with one wrinkle: sending a message
 * also moves the sender's watermark to that message. So when the bot's newest
 * message is what set the watermark, only the message that reply answered is
 * known to be handled. Messages from before the bot joined are not for it.
 */
function unanswered(conversation: Conversation, messages: Message[], botId: string): Message[] {
  const me = conversation.members.find((m) => m.userId === botId);
  const joinedAtMs = me?.joinedAt ? timestampMs(me.joinedAt) : 0;
  const own = messages.filter((m) => m.senderId === botId);
  const replied = new Set(own.map((m) => m.replyToSeq));
  const newestOwn = own[own.length - 1];
  let handledUpTo = conversation.myReadSeq;
  if (newestOwn && newestOwn.seq >= handledUpTo) handledUpTo = newestOwn.replyToSeq;
  return messages.filter(
    (m) =>
      m.senderId !== botId &&
      m.seq > handledUpTo &&
      !replied.has(m.seq) &&
      !m.deletedAt &&
      (m.createdAt ? timestampMs(m.createdAt) : 0) >= joinedAtMs,
  );
}

/**
 * Whether an error may go away by itself: Parley says so in its error detail
 * (see `REASONS`); errors without one come from the network or a proxy.
 */
function isRetryable(err: unknown): boolean {
  const reason = reasonOf(err);
  return reason === ErrorReason.UNSPECIFIED ? true : REASONS[reason].retryable;
}

/** A short description of an error for logs. */
function describe(err: unknown): string {
  if (err instanceof ConnectError) {
    const reason = reasonOf(err);
    return reason === ErrorReason.UNSPECIFIED ? err.message : `${reasonName(reason)}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const consoleLogger: BotLogger = {
  debug: () => {},
  info: (message, fields) => console.log(`[bot] ${message}`, fields ?? ""),
  warn: (message, fields) => console.warn(`[bot] ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`[bot] ${message}`, fields ?? ""),
};
