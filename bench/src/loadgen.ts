/**
 * A load-generator process (forked by the orchestrator, one per core): holds
 * simulated devices (one live stream and one TCP connection each), sends
 * messages at a fixed rate or as fast as answers come, and measures
 * send→deliver latency on the receiving device. Commands arrive over IPC; see
 * {@link LoadgenRequest}.
 */
import { create } from "@bufbuild/protobuf";
import {
  MessageService,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  SyncService,
} from "@parley/protocol";
import { io, type Socket } from "socket.io-client";
import { type SampleSnapshot, Samples } from "./stats.js";
import type { JwtParams } from "./targets.js";
import { createTokenMinter } from "./tokens.js";
import { type OpenStream, openStream, parseBaseUrl, UnaryPool, type WireTarget } from "./wire.js";

const SUBSCRIBE = `/${SyncService.typeName}/Subscribe`;
const SEND = `/${MessageService.typeName}/SendMessage`;

/** A device to open. */
export interface DeviceSpec {
  userId: string;
  /** Resume cursor; "" for "from now on". */
  cursor?: string;
}

/** A sender: who sends into which conversation (`to` is the peer, for the Socket.IO relay). */
export interface SenderSpec {
  userId: string;
  conversationId: string;
  to: string;
}

export type LoadgenRequest =
  | {
      op: "setup";
      target: "parley" | "socketio";
      baseUrl: string;
      jwt: JwtParams;
      localAddresses: string[];
      unarySockets: number;
    }
  | { op: "open"; devices: DeviceSpec[]; concurrency: number; returnCursors?: boolean }
  | { op: "closeAll" }
  | { op: "resetStats" }
  | { op: "stats" }
  | {
      op: "send";
      senders: SenderSpec[];
      /** Messages per second, or 0 for as fast as `concurrency` in-flight calls allow. */
      rate: number;
      concurrency: number;
      durationMs: number;
      /** Stop after this many messages (0: no limit). */
      maxMessages?: number;
    }
  | { op: "catchup"; device: DeviceSpec; expect: number; timeoutMs: number };

export interface OpenResult {
  opened: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
  cursors?: string[];
}

export interface StatsResult {
  devices: number;
  delivered: number;
  /** Streams that ended or failed after opening. */
  dropped: number;
  latency: SampleSnapshot;
}

export interface SendResult {
  sent: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
  sendLatency: SampleSnapshot;
}

export interface CatchupResult {
  events: number;
  firstEventMs: number;
  caughtUpMs: number;
  cursor: string;
}

const nowNs = () => Number(process.hrtime.bigint());
const MARK = "b:";

let target: "parley" | "socketio" = "parley";
let wire: WireTarget;
let baseUrl = "";
let pool: UnaryPool | undefined;
let addressIndex = 0;
const devices: { close(): void }[] = [];
let delivered = 0;
let dropped = 0;
let latency = new Samples();
/** Socket.IO sockets used to send, one per sender user (created on first use). */
const ioSenders = new Map<string, Socket>();

let tokenFor: (userId: string) => Promise<string> = () => Promise.reject(new Error("setup first"));

function nextAddress(): string {
  const a = wire.localAddresses[addressIndex++ % wire.localAddresses.length];
  return a ?? "127.0.0.1";
}

function onText(text: string): void {
  if (!text.startsWith(MARK)) return;
  const end = text.indexOf(" ", MARK.length);
  const sentNs = Number(end < 0 ? text.slice(MARK.length) : text.slice(MARK.length, end));
  if (!Number.isFinite(sentNs)) return;
  delivered++;
  latency.add((nowNs() - sentNs) / 1e6);
}

async function openParleyDevice(spec: DeviceSpec, wantCursor: boolean): Promise<string | undefined> {
  let resolveCursor: ((c: string) => void) | undefined;
  const cursor = wantCursor ? new Promise<string>((r) => (resolveCursor = r)) : undefined;
  let live = true;
  const stream: OpenStream = await openStream(
    wire,
    nextAddress(),
    SUBSCRIBE,
    SubscribeRequestSchema,
    SubscribeResponseSchema,
    create(SubscribeRequestSchema, { cursor: spec.cursor ?? "", deviceId: "bench" }),
    await tokenFor(spec.userId),
    {
      onMessage(res) {
        const k = res.kind;
        if (k.case === "event") {
          const p = k.value.payload;
          if (p.case === "messageCreated" && p.value.message && p.value.message.senderId !== spec.userId) {
            onText(p.value.message.text);
          }
        } else if (k.case === "caughtUp") {
          resolveCursor?.(k.value.cursor);
        }
      },
      onEnd() {
        if (live) dropped++;
        live = false;
      },
    },
  );
  devices.push({
    close() {
      live = false;
      stream.close();
    },
  });
  return cursor;
}

function openIoSocket(token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(baseUrl, {
      transports: ["websocket"],
      auth: { token },
      reconnection: false,
      forceNew: true,
      timeout: 30_000,
      localAddress: nextAddress(),
    } as Parameters<typeof io>[1]);
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

async function openIoDevice(spec: DeviceSpec): Promise<void> {
  const socket = await openIoSocket(await tokenFor(spec.userId));
  let live = true;
  socket.on("msg", (m: { from: string; text: string }) => {
    if (m.from !== spec.userId) onText(m.text);
  });
  socket.on("disconnect", () => {
    if (live) dropped++;
    live = false;
  });
  devices.push({
    close() {
      live = false;
      socket.close();
    },
  });
}

async function open(specs: DeviceSpec[], concurrency: number, returnCursors: boolean): Promise<OpenResult> {
  const started = performance.now();
  let opened = 0;
  let failed = 0;
  const errors: string[] = [];
  const cursors: string[] = new Array(specs.length).fill("");
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      const spec = specs[i];
      if (!spec) return;
      try {
        if (target === "parley") {
          const c = await openParleyDevice(spec, returnCursors);
          if (c !== undefined) cursors[i] = await c;
        } else {
          await openIoDevice(spec);
        }
        opened++;
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return {
    opened,
    failed,
    errors,
    elapsedMs: performance.now() - started,
    ...(returnCursors ? { cursors } : {}),
  };
}

async function sendOne(s: SenderSpec, text: string): Promise<void> {
  if (target === "parley") {
    if (!pool) throw new Error("setup first");
    await pool.call(
      SEND,
      SendMessageRequestSchema,
      SendMessageResponseSchema,
      create(SendMessageRequestSchema, {
        conversationId: s.conversationId,
        clientMsgId: `m${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`,
        text,
      }),
      await tokenFor(s.userId),
    );
    return;
  }
  let socket = ioSenders.get(s.userId);
  if (!socket) {
    socket = await openIoSocket(await tokenFor(s.userId));
    ioSenders.set(s.userId, socket);
  }
  const sock = socket;
  await new Promise<void>((resolve, reject) => {
    sock.timeout(10_000).emit("send", { to: s.to, text }, (err: unknown) => (err ? reject(err) : resolve()));
  });
}

async function send(req: Extract<LoadgenRequest, { op: "send" }>): Promise<SendResult> {
  const started = performance.now();
  const deadline = started + req.durationMs;
  const max = req.maxMessages ?? 0;
  const sendLatency = new Samples(50_000);
  let sent = 0;
  let issued = 0;
  let failed = 0;
  let inflight = 0;
  const errors: string[] = [];
  const one = async () => {
    const s = req.senders[issued % req.senders.length] as SenderSpec;
    issued++;
    inflight++;
    const t0 = nowNs();
    try {
      await sendOne(s, `${MARK}${t0} hello from the bench`);
      sent++;
      sendLatency.add((nowNs() - t0) / 1e6);
    } catch (err) {
      failed++;
      if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
    } finally {
      inflight--;
    }
  };
  const done = () => performance.now() >= deadline || (max > 0 && issued >= max);
  if (req.rate === 0) {
    // Closed loop: `concurrency` lanes, each sends again as soon as its call returns.
    const lane = async () => {
      while (!done()) await one();
    };
    await Promise.all(Array.from({ length: req.concurrency }, lane));
  } else {
    // Open loop: issue on schedule (rate × elapsed), never more than `concurrency` in flight.
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (done()) {
          const drain = () => (inflight === 0 ? resolve() : setTimeout(drain, 5));
          drain();
          return;
        }
        const due = Math.floor(((performance.now() - started) / 1000) * req.rate);
        while (issued < due && inflight < req.concurrency && !(max > 0 && issued >= max)) void one();
        setTimeout(tick, 1);
      };
      tick();
    });
  }
  while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
  return {
    sent,
    failed,
    errors,
    elapsedMs: performance.now() - started,
    sendLatency: sendLatency.snapshot(),
  };
}

async function catchup(req: Extract<LoadgenRequest, { op: "catchup" }>): Promise<CatchupResult> {
  const started = performance.now();
  let events = 0;
  let firstEventMs = 0;
  const token = await tokenFor(req.device.userId);
  return new Promise((resolve, reject) => {
    let stream: OpenStream | undefined;
    const timer = setTimeout(() => {
      stream?.close();
      reject(new Error(`not caught up within ${req.timeoutMs} ms (${events} of ${req.expect} events)`));
    }, req.timeoutMs);
    openStream(
      wire,
      nextAddress(),
      SUBSCRIBE,
      SubscribeRequestSchema,
      SubscribeResponseSchema,
      create(SubscribeRequestSchema, { cursor: req.device.cursor ?? "", deviceId: "bench-catchup" }),
      token,
      {
        onMessage(res) {
          if (res.kind.case === "event") {
            if (events === 0) firstEventMs = performance.now() - started;
            events++;
          } else if (res.kind.case === "caughtUp") {
            clearTimeout(timer);
            const caughtUpMs = performance.now() - started;
            stream?.close();
            resolve({ events, firstEventMs, caughtUpMs, cursor: res.kind.value.cursor });
          }
        },
        onEnd(err) {
          if (err) {
            clearTimeout(timer);
            reject(err);
          }
        },
      },
    ).then(
      (s) => {
        stream = s;
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

async function handle(req: LoadgenRequest): Promise<unknown> {
  switch (req.op) {
    case "setup":
      target = req.target;
      baseUrl = req.baseUrl;
      tokenFor = createTokenMinter(req.jwt);
      pool?.close();
      wire = { ...parseBaseUrl(req.baseUrl), localAddresses: req.localAddresses };
      pool = new UnaryPool(wire, req.unarySockets);
      return { pid: process.pid };
    case "open":
      return open(req.devices, req.concurrency, req.returnCursors ?? false);
    case "closeAll": {
      for (const d of devices.splice(0)) d.close();
      for (const s of ioSenders.values()) s.close();
      ioSenders.clear();
      return {};
    }
    case "resetStats":
      delivered = 0;
      dropped = 0;
      latency = new Samples();
      return {};
    case "stats":
      return {
        devices: devices.length,
        delivered,
        dropped,
        latency: latency.snapshot(),
      } satisfies StatsResult;
    case "send":
      return send(req);
    case "catchup":
      return catchup(req);
  }
}

process.on("message", (msg: { id: number; req: LoadgenRequest }) => {
  handle(msg.req).then(
    (result) => process.send?.({ id: msg.id, result }),
    (err: unknown) =>
      process.send?.({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on("disconnect", () => process.exit(0));
