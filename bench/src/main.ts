/**
 * `npm run bench -w @parley/bench -- [command] [options]`
 *
 * Commands: connections | throughput | catchup | socketio | all (default).
 * Options:
 *   --quick              a small run (a few minutes on 2 cores; CI smoke test)
 *   --mode <m>           embedded (default) | cluster
 *   --out <file>         also write the JSON results here
 *   --chart <file>       also write the SVG chart here
 *   --step <n>           connections per ramp step (10,000; quick 1,000)
 *   --max-streams <n>    connections budget (100,000; quick 3,000)
 *   --phase-ms <n>       length of each throughput phase
 *   --loadgens <n>       load-generator processes (default: number of cores, at least 2)
 *   --cpu-prof <dir>     run the Parley server with --cpu-prof, profiles written to <dir>
 *
 * Exits 0 when every bench ran (targets met or missed are reported, not
 * failures), 1 when the bench or a server broke, 2 on bad arguments.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchBroken, type BenchContext, catchup, connections, progress, throughput } from "./benches.js";
import { chart } from "./chart.js";
import { Loadgens } from "./loadgens.js";
import { machineInfo } from "./proc.js";
import { type BenchResults, evaluateTargets, ratios, report } from "./results.js";
import { type ParleyMode, startParley, startSocketIo, type Target } from "./targets.js";

const COMMANDS = ["connections", "throughput", "catchup", "socketio", "all"] as const;
type Command = (typeof COMMANDS)[number];

interface Args {
  command: Command;
  quick: boolean;
  mode: ParleyMode;
  out?: string;
  chart?: string;
  step?: number;
  maxStreams?: number;
  phaseMs?: number;
  loadgens?: number;
  cpuProf?: string;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const args: Args = { command: "all", quick: false, mode: "embedded" };
  const int = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} needs a positive integer, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") args.quick = true;
    else if (a === "--mode") {
      const m = value();
      if (m !== "embedded" && m !== "cluster")
        throw new UsageError(`--mode is embedded or cluster, got ${m}`);
      args.mode = m;
    } else if (a === "--out") args.out = resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (a === "--chart") args.chart = resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (a === "--step") args.step = int(a, value());
    else if (a === "--max-streams") args.maxStreams = int(a, value());
    else if (a === "--phase-ms") args.phaseMs = int(a, value());
    else if (a === "--loadgens") args.loadgens = int(a, value());
    else if (a === "--cpu-prof") args.cpuProf = resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (a === "--help" || a === "-h") throw new UsageError("");
    else if ((COMMANDS as readonly string[]).includes(a)) args.command = a as Command;
    else throw new UsageError(`unknown argument ${a}`);
  }
  return args;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`bench: ${err.message}\n`);
    process.stderr.write(
      "usage: npm run bench -w @parley/bench -- [connections|throughput|catchup|socketio|all] [--quick] [--mode embedded|cluster] [--out file.json] [--chart file.svg] [--step n] [--max-streams n] [--phase-ms n] [--loadgens n] [--cpu-prof dir]\n",
    );
    return 2;
  }
  const quick = args.quick;
  const started = new Date();
  const machine = machineInfo();
  progress(
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}; open-file limit ${machine.openFileLimit}`,
  );
  const results: BenchResults = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: "",
    command: args.command,
    quick,
    mode: args.mode,
    machine,
    loadAverage: { start: loadavg()[0] ?? 0, end: 0 },
    transport:
      "Connect protocol, binary protobuf over HTTP/1.1; each device holds its own TCP connection (like a browser tab; the reference server speaks HTTP/1.1 only); Socket.IO over WebSocket, one connection per device",
    connections: {},
    throughput: { parley: [], socketio: [] },
    catchup: [],
    ratios: [],
    targets: [],
    failures: [],
  };
  const connectionOptions = {
    step: args.step ?? (quick ? 1_000 : 10_000),
    maxStreams: args.maxStreams ?? (quick ? 3_000 : 100_000),
    budgetMs: quick ? 60_000 : 900_000,
    settleMs: quick ? 1_000 : 3_000,
  };
  const throughputOptions = {
    pairs: quick ? 100 : 500,
    groups: quick ? 2 : 4,
    groupSize: 50,
    // Quick mode stays below what a loaded 2-core box sustains (it is a smoke test);
    // the full run has the 10,000/s phase the latency targets are judged at.
    directRates: quick ? [250, 1_000] : [1_000, 2_500, 5_000, 10_000],
    groupRates: quick ? [2_500] : [5_000, 10_000, 20_000],
    phaseMs: args.phaseMs ?? (quick ? 3_000 : 10_000),
    saturationConcurrency: 128,
    openLoopConcurrency: 1_000,
  };
  const parleyEnv: Record<string, string> = {};
  if (args.cpuProf) {
    mkdirSync(args.cpuProf, { recursive: true });
    parleyEnv.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${args.cpuProf}`;
  }

  const loadgenCount = args.loadgens ?? Math.max(2, cpus().length);
  const addressesEach = 4;
  const loadgens = await Loadgens.start(loadgenCount, addressesEach);
  const ctx: BenchContext = { loadgens, quick, addressesEach };
  const running = new Set<Target>();
  const stopAll = async () => {
    for (const t of running) await t.stop().catch(() => {});
    running.clear();
    await loadgens.stop();
  };
  process.once("SIGINT", () => {
    void stopAll().then(() => process.exit(130));
  });

  const withTarget = async <T>(
    start: () => Promise<Target>,
    work: (t: Target) => Promise<T>,
  ): Promise<T | undefined> => {
    let target: Target | undefined;
    try {
      target = await start();
      running.add(target);
      return await work(target);
    } catch (err) {
      const msg =
        err instanceof Error
          ? err instanceof BenchBroken
            ? err.message
            : (err.stack ?? err.message)
          : String(err);
      results.failures.push(msg);
      progress(`FAILED: ${msg}`);
      return undefined;
    } finally {
      if (target) {
        running.delete(target);
        await target
          .stop()
          .catch((err: unknown) => results.failures.push(`stopping ${target?.name}: ${String(err)}`));
      }
    }
  };
  const parley =
    (options: { maxEventsPerUser?: number } = {}) =>
    () =>
      startParley(args.mode, { ...options, env: parleyEnv });
  const cmd = args.command;

  if (cmd === "connections" || cmd === "all") {
    progress(`connections: ramp in steps of ${connectionOptions.step.toLocaleString("en-US")}`);
    results.connections.parley = await withTarget(parley(), (t) =>
      connections(ctx, t, "parley", connectionOptions),
    );
  }
  if (cmd === "throughput" || cmd === "all") {
    progress("throughput: 1:1 and group traffic");
    await withTarget(parley(), (t) =>
      throughput(ctx, t, "parley", throughputOptions, results.throughput.parley),
    );
  }
  if (cmd === "catchup" || cmd === "all") {
    progress("catch-up: reconnect after missing 1,000 and 10,000 events");
    results.catchup = (await withTarget(parley(), (t) => catchup(ctx, t, [1_000, 10_000]))) ?? [];
  }
  if (cmd === "socketio" || cmd === "all") {
    progress("socket.io relay: the same connection hold and 1:1 delivery");
    const held = results.connections.parley?.held;
    results.connections.socketio = await withTarget(startSocketIo, (t) =>
      connections(ctx, t, "socketio", {
        ...connectionOptions,
        maxStreams: held ?? connectionOptions.maxStreams,
      }),
    );
    await withTarget(startSocketIo, (t) =>
      throughput(ctx, t, "socketio", { ...throughputOptions, groups: 0 }, results.throughput.socketio),
    );
  }
  await loadgens.stop();

  results.finishedAt = new Date().toISOString();
  results.loadAverage.end = loadavg()[0] ?? 0;
  results.ratios = ratios(results);
  results.targets = evaluateTargets(results);
  const stamp = results.startedAt.replace(/[:.]/g, "-");
  const dir = fileURLToPath(new URL("../results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const svg = chart(results);
  const files = [`${dir}${stamp}.json`, `${dir}${stamp}.svg`];
  writeFileSync(files[0] as string, json);
  writeFileSync(files[1] as string, svg);
  if (args.out) {
    writeFileSync(args.out, json);
    files.push(args.out);
  }
  if (args.chart) {
    writeFileSync(args.chart, svg);
    files.push(args.chart);
  }
  process.stdout.write(`\n${report(results)}\n\nWrote ${files.join(", ")}\n`);
  if (results.failures.length > 0) {
    process.stderr.write(`bench: ${results.failures.length} bench(es) broke; exit 1\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
