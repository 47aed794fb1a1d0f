/**
 * End-to-end tests: a real embedded Parley server in a child process, a user
 * talking to the bot through the public API.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, ConversationService, type Message, MessageService, ulid } from "@parley/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bot, type BotLogger, createBot, HELP_TEXT } from "./index.js";

const repoRoot = resolve(import.meta.dirname, "../../..");

let server: ChildProcess | undefined;
let serverOutput = "";
let dataDir = "";
let baseUrl = "";

/** A free TCP port: listen on 0, note the port, close. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, "127.0.0.1", ok));
  const address = probe.address();
  await new Promise<void>((ok) => probe.close(() => ok()));
  if (typeof address !== "object" || !address) throw new Error("no port");
  return address.port;
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

let port = 0;
const jwtSecret = randomBytes(32).toString("hex");

/** Starts the embedded server (on `port`, with `dataDir`) and waits until /healthz answers. */
async function startServer(): Promise<void> {
  serverOutput = "";
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", join(repoRoot, "reference-server/src/main.ts")],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        PARLEY_HOST: "127.0.0.1",
        PARLEY_PORT: String(port),
        PARLEY_DATA_DIR: dataDir,
        PARLEY_JWT_SECRET: jwtSecret,
        PARLEY_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  server = child;
  child.stdout?.on("data", (chunk) => (serverOutput += chunk));
  child.stderr?.on("data", (chunk) => (serverOutput += chunk));
  await eventually(
    "the server's /healthz",
    async () => {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${serverOutput}`);
      const ok = await fetch(`${baseUrl}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      return ok ? true : undefined;
    },
    30_000,
  );
}

/** Stops the server gracefully (SIGTERM) and waits for it to exit. */
async function stopServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once("exit", ok));
  child.kill("SIGTERM");
  await exited;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "parley-node-bot-"));
  port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  await startServer();
});

afterAll(async () => {
  await stopServer();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A dev-login user's clients. */
async function userClients(userId: string) {
  const transport = (token?: string) =>
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      interceptors: token
        ? [
            (next) => (req) => {
              req.header.set("Authorization", `Bearer ${token}`);
              return next(req);
            },
          ]
        : [],
    });
  const { token } = await createClient(AuthService, transport()).devLogin({ userId, displayName: userId });
  const authed = transport(token);
  return {
    conversations: createClient(ConversationService, authed),
    messages: createClient(MessageService, authed),
  };
}

/** A bot logger that keeps quiet but remembers warnings and errors. */
function testLogger(problems: string[]): BotLogger {
  return {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => problems.push(`warn: ${message} ${JSON.stringify(fields ?? {})}`),
    error: (message, fields) => problems.push(`error: ${message} ${JSON.stringify(fields ?? {})}`),
  };
}

/** The whole history of a conversation (tests stay well under one page). */
async function history(messages: Client<typeof MessageService>, conversationId: string): Promise<Message[]> {
  const res = await messages.getHistory({ conversationId, limit: 200 });
  return res.messages;
}

/** Waits for the bot's reply to message `seq` and returns it. */
function replyTo(
  messages: Client<typeof MessageService>,
  conversationId: string,
  seq: number,
  botId: string,
): Promise<Message> {
  return eventually(`the bot's reply to ${conversationId}#${seq}`, async () =>
    (await history(messages, conversationId)).find((m) => m.senderId === botId && m.replyToSeq === seq),
  );
}

describe("node-bot", () => {
  const botId = "echo-bot";
  const problems: string[] = [];
  let bot: Bot;
  let alice: Awaited<ReturnType<typeof userClients>>;
  let directId = "";
  let groupId = "";

  async function send(conversationId: string, text: string): Promise<number> {
    const res = await alice.messages.sendMessage({ conversationId, clientMsgId: ulid(), text });
    return res.message?.seq ?? 0;
  }

  beforeAll(async () => {
    alice = await userClients("alice");
    bot = createBot({ baseUrl, userId: botId, logger: testLogger(problems) });
    await bot.start();
  });

  afterAll(async () => {
    await bot?.stop();
  });

  it("echoes a direct message, replying to it, and marks it read", async () => {
    const created = await alice.conversations.createDirect({ peerUserId: botId });
    directId = created.conversation?.conversationId ?? "";
    const seq = await send(directId, "hello");

    const answer = await replyTo(alice.messages, directId, seq, botId);
    expect(answer.text).toBe("echo: hello");
    expect(answer.replyToSeq).toBe(seq);

    await eventually("the bot's read receipt", async () => {
      const { conversation } = await alice.conversations.getConversation({ conversationId: directId });
      const member = conversation?.members.find((m) => m.userId === botId);
      return member && member.readSeq >= seq ? member : undefined;
    });
  });

  it("answers /help with its help line", async () => {
    const seq = await send(directId, "/help");
    expect((await replyTo(alice.messages, directId, seq, botId)).text).toBe(HELP_TEXT);
  });

  it("answers in a group it was added to", async () => {
    const created = await alice.conversations.createGroup({
      clientId: ulid(),
      title: "bots welcome",
      memberIds: [],
    });
    groupId = created.conversation?.conversationId ?? "";
    await alice.conversations.addMembers({ conversationId: groupId, userIds: [botId] });
    const seq = await send(groupId, "hi group");
    expect((await replyTo(alice.messages, groupId, seq, botId)).text).toBe("echo: hi group");
  });

  it("after a restart, answers what it missed exactly once", async () => {
    await bot.stop();
    await bot.done;

    // While the bot is down: messages in both conversations, and a new group
    // with a message from before the bot was added (not for the bot).
    const missed = [
      { conversationId: directId, seq: await send(directId, "one") },
      { conversationId: directId, seq: await send(directId, "two") },
      { conversationId: groupId, seq: await send(groupId, "three") },
    ];
    const lateGroup = await alice.conversations.createGroup({
      clientId: ulid(),
      title: "late",
      memberIds: [],
    });
    const lateId = lateGroup.conversation?.conversationId ?? "";
    const beforeJoin = await send(lateId, "before the bot joined");
    await alice.conversations.addMembers({ conversationId: lateId, userIds: [botId] });
    missed.push({ conversationId: lateId, seq: await send(lateId, "after the bot joined") });

    // A new instance: it knows nothing but its id.
    bot = createBot({ baseUrl, userId: botId, logger: testLogger(problems) });
    await bot.start();
    for (const { conversationId, seq } of missed) await replyTo(alice.messages, conversationId, seq, botId);

    // A live message after the catch-up is answered too.
    const live = await send(directId, "four");
    await replyTo(alice.messages, directId, live, botId);

    // Exactly one reply per user message, and none to the pre-join message.
    for (const conversationId of [directId, groupId, lateId]) {
      const all = await history(alice.messages, conversationId);
      const replies = all.filter((m) => m.senderId === botId).map((m) => m.replyToSeq);
      const expected = all
        .filter((m) => m.senderId !== botId && !(conversationId === lateId && m.seq === beforeJoin))
        .map((m) => m.seq);
      expect(
        replies.sort((a, b) => a - b),
        conversationId,
      ).toEqual(expected);
    }
    expect(problems).toEqual([]);
  });

  it("reconnects after a server restart and resumes from its cursor", async () => {
    await stopServer();
    await startServer();
    // Sent right away: the bot is probably still backing off, and gets it by
    // resuming its stream from the last cursor it saw.
    const seq = await send(directId, "are you still there?");
    expect((await replyTo(alice.messages, directId, seq, botId)).text).toBe("echo: are you still there?");

    const all = await history(alice.messages, directId);
    const replies = all.filter((m) => m.senderId === botId).map((m) => m.replyToSeq);
    expect(new Set(replies).size).toBe(replies.length); // no message answered twice
    // Losing the connection is worth a warning, nothing worse.
    expect(problems.filter((p) => !p.startsWith("warn: connection problem"))).toEqual([]);
  }, 60_000);
});
