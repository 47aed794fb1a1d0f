/**
 * The four benchmarks. Each starts its own fresh server(s), drives them through
 * the load generators, and returns plain data (see `results.ts`).
 */
import { randomBytes } from "node:crypto";
import type { DeviceSpec, SenderSpec } from "./loadgen.js";
import type { Loadgens } from "./loadgens.js";
import { cpuMeter, openFileLimit, rssBytes } from "./proc.js";
import type { CatchupRow, ConnectionStep, ConnectionsResult, Phase, Scenario } from "./results.js";
import { createParleySetup } from "./setup.js";
import { summarize } from "./stats.js";
import type { Target } from "./targets.js";

/** Progress output (stderr, so stdout keeps the final table). */
export function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = randomBytes(3).toString("hex");
let userCounter = 0;
/** A fresh valid user id. */
export const userId = (label: string) => `${label}.${run}.${++userCounter}`;

/** Where the bench uses source addresses and connection concurrency. */
export interface BenchContext {
  loadgens: Loadgens;
  quick: boolean;
  /** Loopback source addresses per load generator. */
  addressesEach: number;
}

/** Fails the run: the bench itself (or the server) broke. */
export class BenchBroken extends Error {
  override name = "BenchBroken";
}

function alive(target: Target): void {
  try {
    rssBytes(target.pid);
  } catch {
    throw new BenchBroken(`${target.name} server (pid ${target.pid}) is gone`);
  }
}

// ---------------------------------------------------------------- connections

/** Options of {@link connections}. */
export interface ConnectionsOptions {
  step: number;
  maxStreams: number;
  /** Stop ramping after this long (ms). */
  budgetMs: number;
  settleMs: number;
}

/**
 * Ramps live device streams (or sockets) in steps until a budget, the server's
 * open-file limit, connect failures or the server itself stop it. Each device is
 * a distinct user with its own TCP connection from one of several loopback
 * source addresses.
 */
export async function connections(
  ctx: BenchContext,
  target: Target,
  kind: "parley" | "socketio",
  options: ConnectionsOptions,
): Promise<ConnectionsResult> {
  const { loadgens } = ctx;
  await loadgens.setup(target, kind, ctx.addressesEach);
  await sleep(500);
  const baselineRss = rssBytes(target.pid);
  const fdLimit = openFileLimit(target.pid);
  // Leave room for the server's own files (databases, logs, listening socket).
  const fdCap = Number.isFinite(fdLimit) ? fdLimit - 300 : Number.POSITIVE_INFINITY;
  const cap = Math.min(options.maxStreams, fdCap);
  const steps: ConnectionStep[] = [];
  const started = performance.now();
  let held = 0;
  let stopReason = `budget: ${options.maxStreams.toLocaleString("en-US")} streams`;
  let totalOpenMs = 0;
  let totalOpened = 0;
  for (;;) {
    const count = Math.min(options.step, cap - held);
    if (count <= 0) {
      if (cap === fdCap && fdCap < options.maxStreams) {
        stopReason = `the server process's open-file limit (RLIMIT_NOFILE ${fdLimit}; one socket per stream)`;
      }
      break;
    }
    if (performance.now() - started > options.budgetMs) {
      stopReason = `time budget (${Math.round(options.budgetMs / 1000)} s)`;
      break;
    }
    const devices: DeviceSpec[] = Array.from({ length: count }, () => ({ userId: userId("conn") }));
    const cpu = cpuMeter(target.pid);
    const opened = await loadgens.open(devices, 100);
    const cpuPct = cpu.stop();
    alive(target);
    held += opened.opened;
    totalOpenMs += opened.elapsedMs;
    totalOpened += opened.opened;
    await sleep(options.settleMs);
    alive(target);
    const serverSays = await target.connections();
    const rss = rssBytes(target.pid);
    const step: ConnectionStep = {
      streams: held,
      serverConfirmed: serverSays,
      failed: opened.failed,
      connectPerSec: opened.opened / (opened.elapsedMs / 1000),
      rssMB: rss / 2 ** 20,
      rssPerStreamKB: held > 0 ? (rss - baselineRss) / 1024 / held : 0,
      cpuPctWhileConnecting: cpuPct,
    };
    steps.push(step);
    progress(
      `${target.name} connections: ${held.toLocaleString("en-US")} held (server says ${serverSays.toLocaleString("en-US")}), ` +
        `${Math.round(step.connectPerSec)}/s, RSS ${step.rssMB.toFixed(0)} MB (${step.rssPerStreamKB.toFixed(1)} KB/stream), CPU ${cpuPct.toFixed(0)}%` +
        (opened.failed ? `, ${opened.failed} failed: ${opened.errors[0]}` : ""),
    );
    if (opened.failed > count * 0.01) {
      stopReason = `connect failures (${opened.failed} of ${count}: ${opened.errors[0] ?? "?"})`;
      break;
    }
  }
  const idle = cpuMeter(target.pid);
  await sleep(ctx.quick ? 3_000 : 10_000);
  const idleCpuPct = idle.stop();
  // Per-connection memory after the idle period (V8 has had time to collect the
  // garbage of connecting); the step figures above include it.
  const idleRss = rssBytes(target.pid);
  const stats = await loadgens.stats();
  const dropped = stats.reduce((n, s) => n + s.dropped, 0);
  const confirmed = await target.connections();
  await loadgens.closeAll();
  if (held === 0) throw new BenchBroken(`${target.name}: no connection could be opened (${stopReason})`);
  return {
    target: target.name,
    held,
    serverConfirmed: confirmed,
    droppedWhileHeld: dropped,
    stopReason,
    connectPerSec: totalOpened / (totalOpenMs / 1000),
    baselineRssMB: baselineRss / 2 ** 20,
    rssMB: idleRss / 2 ** 20,
    rssPerStreamKB: held > 0 ? (idleRss - baselineRss) / 1024 / held : 0,
    idleCpuPct,
    steps,
  };
}

// ---------------------------------------------------------------- throughput

/** Options of {@link throughput}. */
export interface ThroughputOptions {
  pairs: number;
  groups: number;
  groupSize: number;
  /** Offered delivered-message rates for 1:1. */
  directRates: number[];
  /** Offered delivered-message rates for groups. */
  groupRates: number[];
  phaseMs: number;
  /** In-flight sends at saturation (all load generators together). */
  saturationConcurrency: number;
  /** Most in-flight sends in open-loop phases. */
  openLoopConcurrency: number;
}

async function phase(
  ctx: BenchContext,
  target: Target,
  scenario: Scenario,
  senders: SenderSpec[],
  recipientsPerSend: number,
  offered: number | "saturation",
  options: ThroughputOptions,
): Promise<Phase> {
  const { loadgens } = ctx;
  await loadgens.resetStats();
  const cpu = cpuMeter(target.pid);
  const started = performance.now();
  const sendRate = offered === "saturation" ? 0 : offered / recipientsPerSend;
  const concurrency = offered === "saturation" ? options.saturationConcurrency : options.openLoopConcurrency;
  const sends = await loadgens.send(senders, sendRate, concurrency, options.phaseMs);
  const sent = sends.reduce((n, s) => n + s.sent, 0);
  const failed = sends.reduce((n, s) => n + s.failed, 0);
  const expected = sent * recipientsPerSend;
  // Drain: wait until every acknowledged message reached its recipients (or 10 s pass).
  let stats = await loadgens.stats();
  let delivered = stats.reduce((n, s) => n + s.delivered, 0);
  const drainUntil = performance.now() + 10_000;
  while (delivered < expected && performance.now() < drainUntil) {
    await sleep(20);
    stats = await loadgens.stats();
    delivered = stats.reduce((n, s) => n + s.delivered, 0);
  }
  const wallMs = performance.now() - started;
  const cpuPct = cpu.stop();
  // Let a backlog (sends that timed out are still applied) drain before the next phase.
  let seen = delivered;
  for (let quiet = 0, deadline = performance.now() + 30_000; quiet < 3 && performance.now() < deadline; ) {
    await sleep(500);
    const now = (await loadgens.stats()).reduce((n, s) => n + s.delivered, 0);
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
  const cpuMs = (cpuPct / 100) * wallMs;
  alive(target);
  const latency = summarize(stats.map((s) => s.latency));
  const result: Phase = {
    target: target.name,
    scenario,
    offered,
    sendsPerSec: sent / (wallMs / 1000),
    deliveredPerSec: delivered / (wallMs / 1000),
    sent,
    failed,
    delivered,
    expected,
    latency,
    sendLatency: summarize(sends.map((s) => s.sendLatency)),
    serverCpuPct: cpuPct,
    serverCpuMsPerDelivered: delivered > 0 ? cpuMs / delivered : 0,
    errors: sends.flatMap((s) => s.errors).slice(0, 3),
  };
  progress(
    `${target.name} ${scenario} ${offered === "saturation" ? "saturation" : `${offered}/s offered`}: ` +
      `${Math.round(result.deliveredPerSec)} delivered/s, p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, ` +
      `max ${latency.max.toFixed(0)} ms, server CPU ${cpuPct.toFixed(0)}% (${((cpuMs / Math.max(delivered, 1)) * 1000).toFixed(0)} µs/msg)` +
      (failed ? `, ${failed} sends failed: ${result.errors[0]}` : "") +
      (delivered < expected ? `, ${expected - delivered} not delivered` : ""),
  );
  if (sent === 0)
    throw new BenchBroken(`${target.name} ${scenario}: no message could be sent (${result.errors[0]})`);
  if (delivered === 0) throw new BenchBroken(`${target.name} ${scenario}: nothing was delivered`);
  return result;
}

/** 1:1 and group traffic at fixed offered rates and at saturation. */
export async function throughput(
  ctx: BenchContext,
  target: Target,
  kind: "parley" | "socketio",
  options: ThroughputOptions,
  /** Phases are pushed here as they finish (kept when a later one breaks). */
  phases: Phase[],
): Promise<Phase[]> {
  const { loadgens } = ctx;
  await loadgens.setup(target, kind, ctx.addressesEach);
  const setup = kind === "parley" ? createParleySetup(target) : undefined;
  try {
    // 1:1: pairs of users, each with one device; both directions send.
    const pairs = Array.from({ length: options.pairs }, () => [userId("a"), userId("b")] as const);
    const conversations = setup
      ? await setup.all(pairs, ([a, b]) => setup.direct(a, b))
      : pairs.map(() => "");
    const directSenders: SenderSpec[] = pairs.flatMap(([a, b], i) => [
      { userId: a, conversationId: conversations[i] as string, to: b },
      { userId: b, conversationId: conversations[i] as string, to: a },
    ]);
    const opened = await loadgens.open(
      pairs.flatMap(([a, b]) => [{ userId: a }, { userId: b }]),
      50,
    );
    if (opened.failed)
      throw new BenchBroken(`${target.name}: ${opened.failed} devices failed: ${opened.errors[0]}`);
    progress(`${target.name} 1:1: ${pairs.length} pairs, ${opened.opened} devices live`);
    for (const rate of [...options.directRates, "saturation" as const]) {
      phases.push(await phase(ctx, target, "1:1", directSenders, 1, rate, options));
    }
    await loadgens.closeAll();

    if (setup && options.groups > 0) {
      const groups = Array.from({ length: options.groups }, () =>
        Array.from({ length: options.groupSize }, () => userId("g")),
      );
      const ids = await setup.all(
        groups,
        (members) => setup.group(members[0] as string, members.slice(1)),
        4,
      );
      const groupSenders: SenderSpec[] = groups.flatMap((members, i) =>
        members.map((m) => ({ userId: m, conversationId: ids[i] as string, to: "" })),
      );
      const gOpened = await loadgens.open(
        groups.flat().map((u) => ({ userId: u })),
        50,
      );
      if (gOpened.failed)
        throw new BenchBroken(`${target.name}: ${gOpened.failed} devices failed: ${gOpened.errors[0]}`);
      progress(
        `${target.name} group: ${groups.length} groups of ${options.groupSize}, ${gOpened.opened} devices live`,
      );
      for (const rate of [...options.groupRates, "saturation" as const]) {
        phases.push(
          await phase(
            ctx,
            target,
            `group-${options.groupSize}`,
            groupSenders,
            options.groupSize - 1,
            rate,
            options,
          ),
        );
      }
      await loadgens.closeAll();
    }
  } finally {
    setup?.close();
  }
  return phases;
}

// ---------------------------------------------------------------- catch-up

/**
 * A device that missed `n` events (1:1 messages from 10 peers while it was away)
 * reconnects from its cursor: time until its stream says caught up.
 */
export async function catchup(ctx: BenchContext, target: Target, counts: number[]): Promise<CatchupRow[]> {
  const { loadgens } = ctx;
  await loadgens.setup(target, "parley", ctx.addressesEach);
  const setup = createParleySetup(target);
  const rows: CatchupRow[] = [];
  try {
    for (const n of counts) {
      const me = userId("away");
      const peers = Array.from({ length: 10 }, () => userId("peer"));
      const convs = await setup.all(peers, (p) => setup.direct(me, p));
      // A witness device stays live to know when all n events are stored; its
      // starting cursor is where the away device left off.
      const lg = loadgens.all[0];
      if (!lg) throw new BenchBroken("no load generator");
      await lg.request({ op: "resetStats" });
      const witness = await lg.request<{ cursors?: string[]; failed: number; errors: string[] }>({
        op: "open",
        devices: [{ userId: me }],
        concurrency: 1,
        returnCursors: true,
      });
      const cursor = witness.cursors?.[0];
      if (!cursor) throw new BenchBroken(`catch-up: no cursor (${witness.errors[0] ?? "?"})`);
      const senders: SenderSpec[] = peers.map((p, i) => ({
        userId: p,
        conversationId: convs[i] as string,
        to: me,
      }));
      const t0 = performance.now();
      const sends = await loadgens.send(senders, 0, 64, 600_000, n);
      const sent = sends.reduce((k, s) => k + s.sent, 0);
      const failed = sends.reduce((k, s) => k + s.failed, 0);
      if (failed) throw new BenchBroken(`catch-up: ${failed} sends failed: ${sends[0]?.errors[0] ?? ""}`);
      for (;;) {
        const st = await lg.request<{ delivered: number }>({ op: "stats" });
        if (st.delivered >= sent) break;
        if (performance.now() - t0 > 300_000)
          throw new BenchBroken(`catch-up: only ${st.delivered} of ${sent} events arrived live`);
        await sleep(50);
      }
      await lg.request({ op: "closeAll" });
      const cpu = cpuMeter(target.pid);
      const r = await loadgens.catchup({ userId: me, cursor }, sent, 120_000);
      const cpuPct = cpu.stop();
      if (r.events !== sent) throw new BenchBroken(`catch-up: replayed ${r.events} events, expected ${sent}`);
      rows.push({
        missed: sent,
        caughtUpMs: r.caughtUpMs,
        firstEventMs: r.firstEventMs,
        eventsPerSec: sent / (r.caughtUpMs / 1000),
        serverCpuPct: cpuPct,
      });
      progress(
        `catch-up: ${sent} missed events replayed in ${r.caughtUpMs.toFixed(0)} ms (first after ${r.firstEventMs.toFixed(0)} ms, ${Math.round(sent / (r.caughtUpMs / 1000))} events/s)`,
      );
    }
  } finally {
    setup.close();
  }
  return rows;
}
