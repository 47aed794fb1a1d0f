/** The bench's results: shapes, targets, the stdout table. */
import type { MachineInfo } from "./proc.js";
import type { LatencySummary } from "./stats.js";

export type Scenario = "1:1" | `group-${number}`;

export interface ConnectionStep {
  streams: number;
  serverConfirmed: number;
  failed: number;
  connectPerSec: number;
  rssMB: number;
  rssPerStreamKB: number;
  cpuPctWhileConnecting: number;
}

export interface ConnectionsResult {
  target: string;
  held: number;
  serverConfirmed: number;
  droppedWhileHeld: number;
  stopReason: string;
  connectPerSec: number;
  baselineRssMB: number;
  rssMB: number;
  rssPerStreamKB: number;
  idleCpuPct: number;
  steps: ConnectionStep[];
}

export interface Phase {
  target: string;
  scenario: Scenario;
  /** Offered delivered messages per second, or saturation (closed loop). */
  offered: number | "saturation";
  sendsPerSec: number;
  deliveredPerSec: number;
  sent: number;
  failed: number;
  delivered: number;
  expected: number;
  /** Send → deliver, measured on the receiving device. */
  latency: LatencySummary;
  /** Send call → its response (the ack), on the sender. */
  sendLatency: LatencySummary;
  serverCpuPct: number;
  /** Server CPU time per delivered message (robust to other load on the machine). */
  serverCpuMsPerDelivered: number;
  errors: string[];
}

export interface CatchupRow {
  missed: number;
  caughtUpMs: number;
  firstEventMs: number;
  eventsPerSec: number;
  serverCpuPct: number;
}

export interface TargetRow {
  target: string;
  goal: string;
  measured: string;
  status: "met" | "missed" | "not run";
  note?: string;
}

export interface Ratio {
  what: string;
  parley: number;
  socketio: number;
  ratio: number;
}

export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  mode: "embedded" | "cluster";
  machine: MachineInfo;
  /** 1-minute load average before and after the run (other work on the machine skews results). */
  loadAverage: { start: number; end: number };
  transport: string;
  connections: { parley?: ConnectionsResult; socketio?: ConnectionsResult };
  throughput: { parley: Phase[]; socketio: Phase[] };
  catchup: CatchupRow[];
  ratios: Ratio[];
  targets: TargetRow[];
  /** Why the run is broken, if it is (then the process exits non-zero). */
  failures: string[];
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "-";

const saturation = (phases: Phase[], scenario: string) =>
  phases.find((p) => p.scenario === scenario && p.offered === "saturation");
const atRate = (phases: Phase[], scenario: string, rate: number) =>
  phases.find((p) => p.scenario === scenario && p.offered === rate);

/** Parley ÷ Socket.IO for what both ran. */
export function ratios(r: BenchResults): Ratio[] {
  const out: Ratio[] = [];
  const add = (what: string, parley: number | undefined, socketio: number | undefined) => {
    if (parley === undefined || socketio === undefined || socketio === 0) return;
    out.push({ what, parley, socketio, ratio: parley / socketio });
  };
  const p = r.throughput.parley;
  const s = r.throughput.socketio;
  add(
    "1:1 delivered msg/s at saturation",
    saturation(p, "1:1")?.deliveredPerSec,
    saturation(s, "1:1")?.deliveredPerSec,
  );
  for (const ph of s) {
    if (ph.scenario !== "1:1" || ph.offered === "saturation") continue;
    const pp = atRate(p, "1:1", ph.offered);
    add(`1:1 p99 latency ms at ${fmt(ph.offered)}/s`, pp?.latency.p99, ph.latency.p99);
  }
  const pc = r.connections.parley;
  const sc = r.connections.socketio;
  add("connections held", pc?.held, sc?.held);
  add("server RSS per connection (KB)", pc?.rssPerStreamKB, sc?.rssPerStreamKB);
  add("connects per second", pc?.connectPerSec, sc?.connectPerSec);
  return out;
}

/** The targets against what this run measured. */
export function evaluateTargets(r: BenchResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const c = r.connections.parley;
  if (c) {
    rows.push({
      target: "live streams per gateway process",
      goal: ">= 100,000",
      measured: fmt(c.held),
      status: c.held >= 100_000 ? "met" : "missed",
      note: `stopped by ${c.stopReason}`,
    });
    rows.push({
      target: "server RSS per live stream",
      goal: "<= 10 KB",
      measured: `${fmt(c.rssPerStreamKB, 1)} KB`,
      status: c.rssPerStreamKB <= 10 ? "met" : "missed",
      note: `at ${fmt(c.held)} streams`,
    });
  } else {
    rows.push({
      target: "live streams per gateway process",
      goal: ">= 100,000",
      measured: "-",
      status: "not run",
    });
  }
  const mode = r.mode;
  const goalRate = mode === "embedded" ? 20_000 : 5_000;
  const goalP99 = mode === "embedded" ? 50 : 100;
  const halfRate = goalRate / 2;
  const scenarios = [...new Set(r.throughput.parley.map((p) => p.scenario))];
  for (const scenario of scenarios) {
    const sat = saturation(r.throughput.parley, scenario);
    if (sat) {
      rows.push({
        target: `${mode} ${scenario} delivered msg/s`,
        goal: `>= ${fmt(goalRate)}`,
        measured: fmt(sat.deliveredPerSec),
        status: sat.deliveredPerSec >= goalRate ? "met" : "missed",
        note: `${r.machine.cores} cores`,
      });
    }
    const half = atRate(r.throughput.parley, scenario, halfRate);
    if (half) {
      const kept = half.deliveredPerSec >= halfRate * 0.95;
      rows.push({
        target: `${mode} ${scenario} p99 at ${fmt(halfRate)}/s`,
        goal: `<= ${goalP99} ms`,
        measured: `${fmt(half.latency.p99, 1)} ms`,
        status: half.latency.p99 <= goalP99 && kept ? "met" : "missed",
        note: kept ? undefined : `only ${fmt(half.deliveredPerSec)}/s delivered`,
      });
    } else if (sat) {
      rows.push({
        target: `${mode} ${scenario} p99 at ${fmt(halfRate)}/s`,
        goal: `<= ${goalP99} ms`,
        measured: "-",
        status: "not run",
        note: `no ${fmt(halfRate)}/s phase in this run`,
      });
    }
  }
  if (mode === "embedded") {
    rows.push({
      target: "cluster delivered msg/s, p99",
      goal: ">= 5,000, <= 100 ms",
      measured: "-",
      status: "not run",
      note: "needs --mode cluster",
    });
  }
  return rows;
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The whole report printed on stdout at the end. */
export function report(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `Parley bench (${r.quick ? "quick" : "full"}, ${r.mode}) — ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.platform}`,
  );
  out.push(`Transport: ${r.transport}`);
  out.push(
    `Load average (1 min) at start ${r.loadAverage.start.toFixed(2)}, at end ${r.loadAverage.end.toFixed(2)}`,
  );
  const conns = [r.connections.parley, r.connections.socketio].filter((c) => c !== undefined);
  if (conns.length) {
    out.push("", "Connections held");
    out.push(
      table(
        ["server", "held", "server says", "connects/s", "RSS MB", "KB/conn", "idle CPU %", "stopped by"],
        conns.map((c) => [
          c.target,
          fmt(c.held),
          fmt(c.serverConfirmed),
          fmt(c.connectPerSec),
          fmt(c.rssMB),
          fmt(c.rssPerStreamKB, 1),
          fmt(c.idleCpuPct, 1),
          c.stopReason,
        ]),
      ),
    );
  }
  const phases = [...r.throughput.parley, ...r.throughput.socketio];
  if (phases.length) {
    out.push("", "Throughput and send→deliver latency (measured on the receiving device)");
    out.push(
      table(
        [
          "server",
          "scenario",
          "offered/s",
          "delivered/s",
          "p50 ms",
          "p95 ms",
          "p99 ms",
          "max ms",
          "ack p99 ms",
          "CPU %",
          "CPU µs/msg",
          "failed",
        ],
        phases.map((p) => [
          p.target,
          p.scenario,
          p.offered === "saturation" ? "saturation" : fmt(p.offered),
          fmt(p.deliveredPerSec),
          fmt(p.latency.p50, 1),
          fmt(p.latency.p95, 1),
          fmt(p.latency.p99, 1),
          fmt(p.latency.max, 0),
          fmt(p.sendLatency.p99, 1),
          fmt(p.serverCpuPct),
          fmt(p.serverCpuMsPerDelivered * 1000),
          fmt(p.failed),
        ]),
      ),
    );
  }
  if (r.catchup.length) {
    out.push("", "Catch-up (a device reconnects from its cursor)");
    out.push(
      table(
        ["missed events", "caught up ms", "first event ms", "events/s", "CPU %"],
        r.catchup.map((c) => [
          fmt(c.missed),
          fmt(c.caughtUpMs),
          fmt(c.firstEventMs),
          fmt(c.eventsPerSec),
          fmt(c.serverCpuPct),
        ]),
      ),
    );
  }
  if (r.ratios.length) {
    out.push("", "Side by side: Parley / Socket.IO relay (no persistence)");
    out.push(
      table(
        ["measure", "Parley", "Socket.IO", "Parley/Socket.IO"],
        r.ratios.map((x) => [x.what, fmt(x.parley, 1), fmt(x.socketio, 1), `${fmt(x.ratio, 2)}x`]),
      ),
    );
  }
  if (r.targets.length) {
    out.push("", "Targets");
    out.push(
      table(
        ["target", "goal", "measured", "status", "note"],
        r.targets.map((t) => [t.target, t.goal, t.measured, t.status.toUpperCase(), t.note ?? ""]),
      ),
    );
  }
  if (r.failures.length) out.push("", "BENCH FAILURES", ...r.failures.map((f) => `  ${f}`));
  return out.join("\n");
}
