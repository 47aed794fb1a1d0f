import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type Conversation, type Message, MessageSchema } from "@parley/protocol";
import { type SpawnedServer, spawnReferenceServer } from "@parley/reference-server/testing";
import {
  createParleyClients,
  mintServiceToken,
  type ParleyClients,
  seededRandom,
  sleep,
  waitFor,
} from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient, type ParleyClient } from "./client.js";
import { isParleyError } from "./errors.js";
import type { ClientLogger } from "./logger.js";
import { createNetworkSwitch, type NetworkSwitch } from "./network-switch.js";
import { createMemoryClientStore, createMemoryStorage, type MemoryStorage } from "./store/memory.js";
import {
  createFaultyTransport,
  emptyFaultStats,
  type FaultRates,
  type FaultStats,
} from "./testing-helpers/faults.js";
import {
  createLocalCoordinatorGroup,
  type LocalCoordinatorGroup,
} from "./testing-helpers/local-coordinators.js";
import type { LocalMessage } from "./view.js";

/**
 * A randomized test of the SDK against the real reference server over HTTP:
 * several devices of three users (alice and bob with several devices, one of
 * each a browser with two tabs sharing a connection; carol with one device) act
 * at random in a direct conversation and a group, while devices go
 * offline and online, reload (close and reopen on the same storage, sometimes
 * with sends in flight), and the transport duplicates and reorders stream
 * deliveries, duplicates mutations, loses answers and resubscribes from older
 * cursors (see testing-helpers/faults.ts for exactly what is injected and why it
 * is fair); the server is restarted (killed or stopped) up to twice. At the end
 * every device must show exactly what the server has.
 *
 * Replay a run with `PARLEY_SEED=<n>` (the seed is printed at the start and is in
 * every assertion message); `PARLEY_FUZZ_STEPS` changes the number of steps. The
 * server and the network run concurrently, so a seed replays the same actions and
 * fault decisions but not necessarily the same interleaving.
 */

const SEED = process.env.PARLEY_SEED
  ? Number(process.env.PARLEY_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;
const STEPS = Number(process.env.PARLEY_FUZZ_STEPS ?? 1500);
const RATES: FaultRates = {
  duplicate: 0.05,
  reorder: 0.1,
  duplicateMutation: 0.05,
  lostAnswer: 0.05,
  replay: 0.3,
};

const rng = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
const chance = (p: number) => rng() < p;

/** Keeps a device's last log lines, to print when a run fails. */
function recordingLogger(lines: string[], fields: Record<string, unknown> = {}): ClientLogger {
  const log =
    (level: string) =>
    (message: string, more?: Record<string, unknown>): void => {
      const extra = { ...fields, ...more };
      delete extra.userId;
      lines.push(
        `${new Date().toISOString().slice(11, 23)} ${level} ${message} ${JSON.stringify(extra, replacer)}`,
      );
      if (lines.length > 300) lines.splice(0, lines.length - 300);
    };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    withContext: (more) => recordingLogger(lines, { ...fields, ...more }),
  };
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * One client instance: a device, or one tab of a browser (tabs of one browser
 * share its storage, network and a coordinator group, and one connection).
 */
interface Device {
  readonly name: string;
  readonly userId: string;
  readonly storage: MemoryStorage;
  readonly net: NetworkSwitch;
  /** snapshot.messagesPerConversation, also the window loaded on reload. */
  readonly window: number;
  readonly log: string[];
  /** The browser's tabs, when this is one of them. */
  readonly tabs: LocalCoordinatorGroup | undefined;
  client: ParleyClient;
  resyncs: number;
  /** What an app that updates its screen from events alone would show. */
  readonly screen: Screen;
}

/** Conversation id → a summary of the conversation, and → seq → a summary of each confirmed message. */
interface Screen {
  readonly conversations: Map<string, string>;
  readonly messages: Map<string, Map<number, string>>;
}

interface SentRecord {
  readonly device: string;
  readonly userId: string;
  readonly conversationId: string;
  readonly clientMsgId: string;
  readonly text: string;
}

interface ServerView {
  /** userId → conversationId → the conversation as that user sees it, in ListConversations' order. */
  readonly conversations: Map<string, Map<string, Conversation>>;
  /** conversationId → full history, ascending. */
  readonly history: Map<string, Message[]>;
}

const USERS = ["alice", "bob", "carol"] as const;
/** Per user, the tabs of each device (1: an app; 2: a browser with two tabs). */
const DEVICES: Record<(typeof USERS)[number], number[]> = { alice: [1, 1, 2], bob: [1, 2], carol: [1] };
const EMOJI = ["👍", "🎉", "❤️"];

let server: SpawnedServer;
const raw = new Map<string, ParleyClients>();
const devices: Device[] = [];
const stats: FaultStats = emptyFaultStats();

beforeAll(async () => {
  // A small event retention, so long-offline devices and old replay cursors hit RESYNC_REQUIRED.
  server = await spawnReferenceServer({ maxEventsPerUser: 150 });
  for (const user of USERS) {
    raw.set(user, createParleyClients(server.baseUrl, `Bearer ${await mintServiceToken(server, user)}`));
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.client.close().catch(() => {})));
  await server?.cleanup();
});

function open(device: Omit<Device, "client" | "resyncs" | "screen">): ParleyClient {
  const client = createParleyClient({
    transport: device.net.transport,
    network: device.net.monitor,
    userId: device.userId,
    token: () => mintServiceToken(server, device.userId),
    store: createMemoryClientStore({ storage: device.storage }),
    logger: recordingLogger(device.log, { device: device.name }),
    reconnect: { initialDelayMs: 20, maxDelayMs: 300 },
    deliveredDelayMs: 20 + Math.floor(rng() * 80),
    snapshot: { messagesPerConversation: device.window },
    ...(device.tabs ? { coordinator: device.tabs.create() } : {}),
  });
  return client;
}

function addDevice(userId: string, index: number, tabs: number): void {
  const cursors: string[] = [];
  const faulty = createFaultyTransport(
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
    {
      random: seededRandom((SEED ^ ((devices.length + 1) * 0x9e3779b9)) >>> 0),
      rates: RATES,
      stats,
      cursors,
    },
  );
  const shared = {
    userId,
    storage: createMemoryStorage(),
    net: createNetworkSwitch(faulty),
    // Some devices keep only the default window of 20 messages; others hold whole conversations.
    window: index % 2 === 1 ? 200 : 20,
    tabs: tabs > 1 ? createLocalCoordinatorGroup() : undefined,
  };
  for (let tab = 0; tab < tabs; tab++) {
    const base = { ...shared, name: `${userId}#${index}${tabs > 1 ? "abc"[tab] : ""}`, log: [] as string[] };
    const screen: Screen = { conversations: new Map(), messages: new Map() };
    const device: Device = { ...base, client: open(base), resyncs: 0, screen };
    watch(device);
    devices.push(device);
  }
}

const json = (m: Message | undefined) => (m ? JSON.stringify(toJson(MessageSchema, m)) : "none");

const summary = (c: Conversation) =>
  JSON.stringify({
    title: c.title,
    lastSeq: c.lastSeq,
    myReadSeq: c.myReadSeq,
    unreadCount: c.unreadCount,
    lastMessage: json(c.lastMessage),
    members: c.members.map((m) => `${m.userId}:${m.deliveredSeq}/${m.readSeq}`),
  });
const shown = (m: LocalMessage) => `${json(m.message)} ${m.status}`;

/** Redraws the whole screen from the client's state (at start, after a reload, on "resync"). */
function redraw(device: Device): void {
  const { client, screen } = device;
  screen.conversations.clear();
  screen.messages.clear();
  for (const c of client.conversations()) {
    screen.conversations.set(c.conversationId, summary(c));
    const seqs = new Map<number, string>();
    for (const m of client.messages(c.conversationId))
      if (m.message.seq > 0) seqs.set(m.message.seq, shown(m));
    screen.messages.set(c.conversationId, seqs);
  }
}

/** Receipt watermarks seen breaking read <= delivered <= last at any time (not only at the end). */
const brokenReceipts: string[] = [];

function checkReceipts(device: Device, conversationId: string): void {
  const conversation = device.client.conversation(conversationId);
  if (!conversation || brokenReceipts.length >= 20) return;
  const last = conversation.lastSeq;
  for (const r of device.client.receipts(conversationId)) {
    if (r.readSeq <= r.deliveredSeq && r.deliveredSeq <= last) continue;
    brokenReceipts.push(
      `${device.name}: ${r.userId} in ${conversationId} read/delivered/last ${r.readSeq}/${r.deliveredSeq}/${last}`,
    );
  }
}

/** Times a device's messages() showed a message twice or out of order (at any time). */
const brokenViews: string[] = [];

function checkView(device: Device, conversationId: string): void {
  if (brokenViews.length >= 20) return;
  const local = device.client.messages(conversationId);
  const seqs = local.map((m) => m.message.seq).filter((seq) => seq > 0);
  const clientIds = local.map((m) => m.message.clientMsgId).filter((id) => id !== "");
  if (
    seqs.some((seq, i) => i > 0 && seq <= (seqs[i - 1] as number)) ||
    new Set(clientIds).size !== clientIds.length
  ) {
    brokenViews.push(
      `${device.name}: ${conversationId} shows ${local.map((m) => `${m.message.seq}:${m.message.clientMsgId.slice(-6)}`).join(" ")}`,
    );
  }
}

/** Keeps the device's screen current from events only, as an app would. */
function watch(device: Device): void {
  const { client, screen } = device;
  client.on("receipt", ({ conversationId }) => checkReceipts(device, conversationId));
  client.on("resync", () => {
    device.resyncs += 1;
    redraw(device);
  });
  client.on("conversation", ({ conversation }) => {
    screen.conversations.set(conversation.conversationId, summary(conversation));
    checkReceipts(device, conversation.conversationId);
  });
  client.on("conversationRemoved", ({ conversationId }) => {
    screen.conversations.delete(conversationId);
    screen.messages.delete(conversationId);
  });
  client.on("message", ({ conversationId, message }) => {
    checkView(device, conversationId);
    if (message.message.seq === 0) return;
    let seqs = screen.messages.get(conversationId);
    if (!seqs) {
      seqs = new Map();
      screen.messages.set(conversationId, seqs);
    }
    seqs.set(message.message.seq, shown(message));
  });
}

async function reload(device: Device): Promise<void> {
  await device.client.close();
  device.client = open(device);
  watch(device);
  await device.client.ready();
  redraw(device);
}

/** Pages GetHistory from the start to the end. */
async function fullHistory(clients: ParleyClients, conversationId: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (let after = 0; ; ) {
    const page = await clients.messages.getHistory({
      conversationId,
      limit: 200,
      anchor: { case: "afterSeq", value: after },
    });
    messages.push(...page.messages);
    const last = page.messages.at(-1);
    if (!page.hasMoreAfter || !last) return messages;
    after = last.seq;
  }
}

async function serverView(conversationIds: string[]): Promise<ServerView> {
  const conversations = new Map<string, Map<string, Conversation>>();
  for (const user of USERS) {
    const byId = new Map<string, Conversation>();
    const res = await (raw.get(user) as ParleyClients).conversations.listConversations({ limit: 100 });
    for (const c of res.conversations) {
      if (conversationIds.includes(c.conversationId)) {
        const full = await (raw.get(user) as ParleyClients).conversations.getConversation({
          conversationId: c.conversationId,
        });
        if (full.conversation) byId.set(c.conversationId, full.conversation);
      }
    }
    conversations.set(user, byId);
  }
  const history = new Map<string, Message[]>();
  for (const id of conversationIds) history.set(id, await fullHistory(raw.get("alice") as ParleyClients, id));
  return { conversations, history };
}

/** Everything about `device` that differs from the server (empty when it matches). */
function differences(device: Device, view: ServerView): string[] {
  const problems: string[] = [];
  const client = device.client;
  const mine = view.conversations.get(device.userId) ?? new Map<string, Conversation>();
  const say = (what: string) => problems.push(`${device.name}: ${what}`);
  const order = client.conversations().map((c) => c.conversationId);
  if (JSON.stringify(order) !== JSON.stringify([...mine.keys()])) {
    say(`conversations are listed as ${order.join(" ")}, the server lists ${[...mine.keys()].join(" ")}`);
  }
  for (const [id, truth] of mine) {
    const conversation = client.conversation(id);
    if (!conversation) continue;
    const history = view.history.get(id) ?? [];
    const fields = (c: Conversation) => ({
      title: c.title,
      lastSeq: c.lastSeq,
      myReadSeq: c.myReadSeq,
      unreadCount: c.unreadCount,
      lastMessage: json(c.lastMessage),
      updatedAt: c.updatedAt ? timestampMs(c.updatedAt) : 0,
      members: c.members.map((m) => `${m.userId}:${m.deliveredSeq}/${m.readSeq}`).sort(),
    });
    const got = JSON.stringify(fields(conversation));
    const want = JSON.stringify(fields(truth));
    if (got !== want) say(`conversation ${id} is ${got}, the server says ${want}`);
    const receipts = client
      .receipts(id)
      .map((r) => `${r.userId}:${r.deliveredSeq}/${r.readSeq}`)
      .sort();
    const truthReceipts = truth.members.map((m) => `${m.userId}:${m.deliveredSeq}/${m.readSeq}`).sort();
    if (JSON.stringify(receipts) !== JSON.stringify(truthReceipts)) {
      say(`receipts of ${id} are ${receipts.join(" ")}, the server says ${truthReceipts.join(" ")}`);
    }
    for (const r of client.receipts(id)) {
      if (!(r.readSeq <= r.deliveredSeq && r.deliveredSeq <= conversation.lastSeq)) {
        say(
          `receipt of ${r.userId} in ${id} breaks read <= delivered <= last: ${r.readSeq}/${r.deliveredSeq}/${conversation.lastSeq}`,
        );
      }
    }
    const local = client.messages(id);
    const unconfirmed = local.filter((m) => m.status === "pending" || m.status === "failed");
    if (unconfirmed.length > 0) say(`${unconfirmed.length} unconfirmed messages in ${id}`);
    const seqs = local.map((m) => m.message.seq);
    const expected = history.slice(
      Math.max(0, history.length - Math.max(seqs.length, Math.min(device.window, history.length))),
    );
    if (JSON.stringify(seqs) !== JSON.stringify(expected.map((m) => m.seq))) {
      say(`messages of ${id} have seqs ${compact(seqs)}; expected ${compact(expected.map((m) => m.seq))}`);
    }
    const ids = local.map((m) => m.message.messageId);
    if (new Set(ids).size !== ids.length) say(`a message id repeats in ${id}`);
    const clientIds = local.map((m) => m.message.clientMsgId).filter((c) => c !== "");
    if (new Set(clientIds).size !== clientIds.length) say(`a client_msg_id repeats in ${id}`);
    // An app drawing from events alone shows the same.
    if (device.screen.conversations.get(id) !== summary(conversation)) {
      say(
        `the conversation ${id} drawn from events is ${device.screen.conversations.get(id)}, not ${summary(conversation)}`,
      );
    }
    const drawn = device.screen.messages.get(id);
    for (const m of local) {
      if (drawn?.get(m.message.seq) !== shown(m)) {
        say(
          `message ${id}/${m.message.seq} drawn from events is ${drawn?.get(m.message.seq)}, not ${shown(m)}`,
        );
      }
    }
    const bySeq = new Map(history.map((m) => [m.seq, m]));
    for (const m of local) {
      const want = bySeq.get(m.message.seq);
      if (json(m.message) !== json(want))
        say(`message ${id}/${m.message.seq} is ${json(m.message)}, the server has ${json(want)}`);
    }
  }
  return problems;
}

/** The entry of `entries` that `roll` (in [0, sum of weights)) falls on. */
function weighted<T>(entries: readonly [number, T][], roll: number): T {
  let rest = roll;
  for (const [weight, value] of entries) {
    if (rest < weight) return value;
    rest -= weight;
  }
  return (entries[entries.length - 1] as [number, T])[1];
}

/** Prints the last log lines of `which` devices, to explain a failure. */
function dumpLogs(which: Device[]): void {
  for (const d of which) console.log(`--- ${d.name} (seed=${SEED})\n${d.log.slice(-80).join("\n")}`);
}

/** "1-5,7" for [1,2,3,4,5,7]. */
function compact(seqs: number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let prev: number | undefined;
  for (const s of [...seqs, Number.NaN]) {
    if (prev !== undefined && s === prev + 1) {
      prev = s;
      continue;
    }
    if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = s;
    prev = s;
  }
  return parts.join(",") || "none";
}

describe("several devices against the reference server, at random", () => {
  it("ends with every message once, in seq order, with the server's receipts and unread counts on every device", async () => {
    console.log(`seed=${SEED} steps=${STEPS}`);
    const where = `seed=${SEED}`;
    const started = Date.now();
    for (const user of USERS) {
      for (const [i, tabs] of DEVICES[user].entries()) addDevice(user, i + 1, tabs);
    }
    await waitFor(
      () => devices.every((d) => d.client.state === "live"),
      20_000,
      `${where}: every device live`,
    );

    const first = devices[0] as Device;
    const direct = (await first.client.createDirect("bob")).conversationId;
    const group = (await first.client.createGroup({ title: "fuzz", memberIds: ["bob", "carol"] }))
      .conversationId;
    const conversationsOf = (userId: string) => (userId === "carol" ? [group] : [direct, group]);
    await waitFor(
      () => devices.every((d) => conversationsOf(d.userId).every((id) => d.client.conversation(id))),
      20_000,
      `${where}: every device sees its conversations`,
    );

    const sends: SentRecord[] = [];
    /** Sends taken back with discard(): on the server at most once. */
    const discarded = new Set<string>();
    let serial = 0;
    const sendFrom = async (d: Device, id: string) => {
      const seqs = d.client
        .messages(id)
        .map((m) => m.message.seq)
        .filter((s) => s > 0);
      const text = `${d.name} says ${++serial}`;
      const replyToSeq = seqs.length > 0 && chance(0.2) ? pick(seqs) : 0;
      const local = await d.client.send(id, { text, replyToSeq });
      const clientMsgId = local.message.clientMsgId;
      sends.push({ device: d.name, userId: d.userId, conversationId: id, clientMsgId, text });
    };
    const ownMessages = (d: Device, id: string) =>
      d.client.messages(id).filter((m) => m.message.senderId === d.userId && !m.message.deletedAt);
    const counts = new Map<string, number>();
    /** What a step can do to a device; each returns false when it had nothing to act on. */
    const actions: Record<string, { weight: number; run: (d: Device) => Promise<boolean> }> = {
      send: {
        weight: 26,
        run: async (d) => {
          await sendFrom(d, pick(conversationsOf(d.userId)));
          return true;
        },
      },
      burst: {
        weight: 3,
        run: async (d) => {
          const id = pick(conversationsOf(d.userId));
          for (let i = 2 + Math.floor(rng() * 4); i > 0; i--) await sendFrom(d, id);
          return true;
        },
      },
      sendThenReload: {
        weight: 3,
        run: async (d) => {
          // Reload while the send is queued or in flight.
          await sendFrom(d, pick(conversationsOf(d.userId)));
          await reload(d);
          return true;
        },
      },
      react: {
        weight: 14,
        run: async (d) => {
          const candidates = d.client
            .messages(pick(conversationsOf(d.userId)))
            .filter((m) => !m.message.deletedAt);
          if (candidates.length === 0) return false;
          const target = pick(candidates).message;
          const emoji = pick(EMOJI);
          const mine = target.reactions.some((r) => r.emoji === emoji && r.userIds.includes(d.userId));
          if (mine && chance(0.8)) await d.client.unreact(target, emoji);
          else await d.client.react(target, emoji);
          return true;
        },
      },
      edit: {
        weight: 8,
        run: async (d) => {
          const own = ownMessages(d, pick(conversationsOf(d.userId)));
          if (own.length === 0) return false;
          const target = pick(own).message;
          await d.client.edit(target, `${target.text.replace(/ \(edit \d+\)$/, "")} (edit ${++serial})`);
          return true;
        },
      },
      delete: {
        weight: 2,
        run: async (d) => {
          const own = ownMessages(d, pick(conversationsOf(d.userId)));
          if (own.length === 0) return false;
          await d.client.delete(pick(own).message);
          return true;
        },
      },
      markRead: {
        weight: 10,
        run: async (d) => {
          const id = pick(conversationsOf(d.userId));
          const last = d.client.conversation(id)?.lastSeq ?? 0;
          if (last === 0) return false;
          await d.client.markRead(id, chance(0.3) ? undefined : 1 + Math.floor(rng() * last));
          return true;
        },
      },
      offline: {
        weight: 6,
        run: async (d) => {
          if (!d.net.isOnline()) return false;
          d.net.setOnline(false);
          return true;
        },
      },
      online: {
        weight: 6,
        run: async () => {
          const offline = devices.filter((x) => !x.net.isOnline());
          if (offline.length === 0) return false;
          pick(offline).net.setOnline(true);
          return true;
        },
      },
      reload: {
        weight: 5,
        run: async (d) => {
          await reload(d);
          return true;
        },
      },
      rename: {
        weight: 2,
        run: async (d) => {
          if (d.userId !== "alice") return false;
          try {
            await d.client.rename(group, `fuzz ${++serial}`);
            return true;
          } catch (err) {
            // An online call: offline or during a server restart it fails and is not retried.
            if (isParleyError(err) && err.retryable) return false;
            throw err;
          }
        },
      },
      typing: {
        weight: 3,
        run: async (d) => {
          d.client.setTyping(pick(conversationsOf(d.userId)), chance(0.5));
          return true;
        },
      },
      discard: {
        weight: 2,
        run: async (d) => {
          // Take back something not sent yet (it may be in flight, and then lands anyway).
          const pending = d.client.outbox().filter((i) => i.status === "pending");
          if (pending.length === 0) return false;
          const item = pick(pending);
          if (item.op.kind === "send") discarded.add(item.id);
          await d.client.discard(item.id);
          return true;
        },
      },
      scrollUp: {
        weight: 3,
        run: async (d) => {
          // Read the page above the window (from the cache, else the server), as scrolling up does.
          const id = pick(conversationsOf(d.userId));
          const oldest = d.client.messages(id).find((m) => m.message.seq > 0)?.message.seq ?? 0;
          if (oldest <= 1) return false;
          try {
            const page = await d.client.history(id, { before: oldest, limit: 1 + Math.floor(rng() * 30) });
            return page.messages.length > 0;
          } catch (err) {
            if (isParleyError(err) && err.retryable) return false;
            throw err;
          }
        },
      },
      jump: {
        weight: 2,
        run: async (d) => {
          // Open history at a random place (after or around a seq): pages may reach past what the
          // stream brought so far.
          const id = pick(conversationsOf(d.userId));
          const last = d.client.conversation(id)?.lastSeq ?? 0;
          if (last === 0) return false;
          const seq = Math.floor(rng() * last);
          const limit = 1 + Math.floor(rng() * 60);
          try {
            await d.client.history(id, chance(0.5) ? { after: seq, limit } : { around: seq + 1, limit });
            return true;
          } catch (err) {
            if (isParleyError(err) && err.retryable) return false;
            throw err;
          }
        },
      },
      restartServer: {
        weight: 1,
        run: async () => {
          // At most twice a run (each takes a few seconds): SIGKILL or SIGTERM, same data.
          if ((counts.get("restartServer") ?? 0) >= 2) return false;
          await server.restart({ hard: chance(0.5) });
          return true;
        },
      },
      settle: {
        weight: 4,
        run: async (d) => {
          // Let things happen: wait until this device is live again, when it is online.
          if (!d.net.isOnline()) return false;
          await waitFor(() => d.client.state === "live", 20_000, `${where}: ${d.name} live`);
          return true;
        },
      },
    };
    const entries = Object.entries(actions).map(([name, a]): [number, string] => [a.weight, name]);
    const total = entries.reduce((sum, [weight]) => sum + weight, 0);
    for (let step = 0; step < STEPS; step++) {
      const device = pick(devices);
      const name = weighted(entries, rng() * total);
      if (await (actions[name] as (typeof actions)[string]).run(device))
        counts.set(name, (counts.get(name) ?? 0) + 1);
      await sleep(rng() * 15);
    }

    // Quiescence: everyone online and live, every outbox answered.
    const actionsDone = Date.now();
    for (const d of devices) d.net.setOnline(true);
    /** Outbox item id → what failed (tabs of one browser show the same items). */
    const failures = new Map<string, string>();
    for (;;) {
      await waitFor(
        () =>
          devices.every(
            (d) => d.client.state === "live" && d.client.outbox().every((i) => i.status === "failed"),
          ),
        60_000,
        `${where}: every device live with nothing pending (${devices.map((d) => `${d.name}:${d.client.state}/${d.client.outbox().length}`).join(" ")})`,
      ).catch((err: unknown) => {
        dumpLogs(devices);
        throw err;
      });
      const failed = new Map(devices.flatMap((d) => d.client.outbox().map((item) => [item.id, { d, item }])));
      if (failed.size === 0) break;
      for (const { d, item } of failed.values()) {
        failures.set(item.id, `${d.name} ${item.op.kind} ${item.failure?.reason}`);
        // Only an edit, delete or reaction may fail: of a message deleted meanwhile (by another device),
        // or naming a send that was discarded before it got through.
        const op = item.op;
        const allowed =
          op.kind !== "send" &&
          (item.failure?.reason === "MESSAGE_DELETED" ||
            (item.failure?.reason === "TARGET_FAILED" &&
              "target" in op &&
              "clientMsgId" in op.target &&
              discarded.has(op.target.clientMsgId)));
        expect(
          allowed,
          `${where}: ${d.name}'s ${op.kind} failed: ${item.failure?.reason} ${item.failure?.message}`,
        ).toBe(true);
        await d.client.discard(item.id);
      }
    }

    const ids = [direct, group];
    let view = await serverView(ids);
    let problems: string[] = [];
    await waitFor(
      async () => {
        view = await serverView(ids);
        problems = devices.flatMap((d) => differences(d, view));
        return problems.length === 0;
      },
      30_000,
      "convergence",
      200,
    ).catch(() => {
      dumpLogs(devices.filter((d) => problems.some((p) => p.startsWith(`${d.name}:`))));
    });
    const quiet = Date.now();
    expect(problems, `${where}: devices differ from the server`).toEqual([]);
    expect(brokenReceipts, `${where}: receipts shown at some time`).toEqual([]);
    expect(brokenViews, `${where}: messages shown at some time`).toEqual([]);

    // Every send is on the server exactly once (at most once when it was discarded).
    for (const s of sends) {
      const found = (view.history.get(s.conversationId) ?? []).filter((m) => m.clientMsgId === s.clientMsgId);
      const times = discarded.has(s.clientMsgId) ? [0, 1] : [1];
      expect(times, `${where}: ${s.device}'s "${s.text}" is on the server ${found.length} times`).toContain(
        found.length,
      );
      if (found[0]) expect(found[0].senderId, `${where}: sender of "${s.text}"`).toBe(s.userId);
    }
    // Seqs on the server are contiguous from 1, each message once.
    for (const id of ids) {
      const history = view.history.get(id) ?? [];
      expect(
        history.map((m) => m.seq),
        `${where}: server history of ${id}`,
      ).toEqual(history.map((_, i) => i + 1));
    }

    // What each device stored is the server's too, and its history pages (cache, then network) match.
    for (const d of devices) {
      const store = createMemoryClientStore({ storage: d.storage });
      const stored = await store.load();
      expect(stored.outbox, `${where}: ${d.name} stored outbox`).toEqual([]);
      for (const id of conversationsOf(d.userId)) {
        const history = view.history.get(id) ?? [];
        const cached = await store.messages(id, { limit: 100_000, from: "oldest" });
        // Every stored message is the server's current one, and at least the newest window is there
        // (older ones may be stored alone, e.g. updated after a resync; history() fills the gaps).
        expect(cached.map(json), `${where}: ${d.name} stored messages of ${id}`).toEqual(
          cached.map((m) => json(history[m.seq - 1])),
        );
        const newest = history.slice(Math.max(0, history.length - d.window)).map((m) => m.seq);
        const storedSeqs = new Set(cached.map((m) => m.seq));
        expect(
          newest.filter((seq) => !storedSeqs.has(seq)),
          `${where}: ${d.name} stored newest messages of ${id}`,
        ).toEqual([]);
        const storedConversation = stored.conversations.find((c) => c.conversationId === id);
        expect(storedConversation?.lastSeq, `${where}: ${d.name} stored lastSeq of ${id}`).toBe(
          history.length,
        );
        const pages: Message[] = [];
        for (let after = 0; ; ) {
          const page = await d.client.history(id, { after, limit: 50 });
          pages.push(...page.messages);
          const last = page.messages.at(-1);
          if (!page.hasMoreAfter || !last) break;
          after = last.seq;
        }
        expect(pages.map(json), `${where}: ${d.name} history of ${id}`).toEqual(history.map(json));
      }
      await store.close();
    }

    console.log(
      [
        `seed=${SEED}`,
        `steps=${STEPS} sends=${sends.length} ${[...counts].map(([name, n]) => `${name}=${n}`).join(" ")}`,
        `resyncs per device=${devices.map((d) => d.resyncs).join("/")}`,
        `injected: duplicated=${stats.duplicated} reordered=${stats.reordered} duplicatedMutations=${stats.duplicatedMutations} lostAnswers=${stats.lostAnswers} replays=${stats.replays}`,
        `discarded sends=${discarded.size} failed items=${failures.size}${failures.size ? ` (${[...failures.values()].join(", ")})` : ""}`,
        `messages=${ids.map((id) => view.history.get(id)?.length ?? 0).join("/")}`,
        `actions ${actionsDone - started} ms, quiescence after ${quiet - actionsDone} ms`,
      ].join("\n"),
    );
  }, 180_000);
});
