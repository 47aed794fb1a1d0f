/** The orchestrator's handle on the load-generator processes (`loadgen.ts`). */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type {
  CatchupResult,
  DeviceSpec,
  LoadgenRequest,
  OpenResult,
  SenderSpec,
  SendResult,
  StatsResult,
} from "./loadgen.js";
import type { Target } from "./targets.js";
import { loopbackAddresses } from "./wire.js";

const LOADGEN = fileURLToPath(new URL("./loadgen.ts", import.meta.url));

/** One forked load generator and its request/response channel. */
export class Loadgen {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;

  constructor(
    readonly index: number,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (msg: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`loadgen ${index}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    child.once("exit", (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values())
        p.reject(new Error(`loadgen ${index} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  request<T>(req: LoadgenRequest): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`loadgen ${this.index} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, req });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once("exit", r));
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await done;
    clearTimeout(t);
  }
}

/** All load generators, addressed together. */
export class Loadgens {
  private constructor(readonly all: Loadgen[]) {}

  /** Forks `count` load generators (each with its own share of the source addresses). */
  static async start(count: number, addressesEach: number): Promise<Loadgens> {
    const all: Loadgen[] = [];
    for (let i = 0; i < count; i++) {
      const child = fork(LOADGEN, [], {
        execArgv: ["--conditions=source", "--import", "tsx", "--max-old-space-size=4096"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        env: { ...process.env, BENCH_LOADGEN_INDEX: String(i), BENCH_ADDRESSES: String(addressesEach) },
      });
      all.push(new Loadgen(i, child));
    }
    return new Loadgens(all);
  }

  get size(): number {
    return this.all.length;
  }

  /** Points every load generator at `target`; each gets distinct loopback source addresses. */
  async setup(target: Target, kind: "parley" | "socketio", addressesEach: number): Promise<void> {
    const addrs = loopbackAddresses(addressesEach * this.all.length);
    await Promise.all(
      this.all.map((lg, i) =>
        lg.request({
          op: "setup",
          target: kind,
          baseUrl: target.baseUrl,
          jwt: target.jwt,
          localAddresses: addrs.slice(i * addressesEach, (i + 1) * addressesEach),
          unarySockets: 64,
        }),
      ),
    );
  }

  /** Opens devices, dealt round-robin over the load generators. */
  async open(devices: DeviceSpec[], concurrencyEach: number): Promise<OpenResult> {
    const shares = this.deal(devices);
    const results = await Promise.all(
      this.all.map((lg, i) =>
        lg.request<OpenResult>({ op: "open", devices: shares[i] ?? [], concurrency: concurrencyEach }),
      ),
    );
    return {
      opened: results.reduce((n, r) => n + r.opened, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
      errors: results.flatMap((r) => r.errors).slice(0, 5),
      elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.map((lg) => lg.request({ op: "closeAll" })));
  }

  async resetStats(): Promise<void> {
    await Promise.all(this.all.map((lg) => lg.request({ op: "resetStats" })));
  }

  stats(): Promise<StatsResult[]> {
    return Promise.all(this.all.map((lg) => lg.request<StatsResult>({ op: "stats" })));
  }

  /** Sends from every load generator at once; `rate` is split evenly. */
  send(
    senders: SenderSpec[],
    rate: number,
    concurrency: number,
    durationMs: number,
    maxMessages = 0,
  ): Promise<SendResult[]> {
    const shares = this.deal(senders);
    const n = this.all.length;
    return Promise.all(
      this.all.map((lg, i) =>
        lg.request<SendResult>({
          op: "send",
          senders: shares[i] ?? [],
          rate: rate / n,
          concurrency: Math.max(1, Math.ceil(concurrency / n)),
          durationMs,
          maxMessages: maxMessages > 0 ? Math.ceil(maxMessages / n) : 0,
        }),
      ),
    );
  }

  catchup(device: DeviceSpec, expect: number, timeoutMs: number): Promise<CatchupResult> {
    return (this.all[0] as Loadgen).request<CatchupResult>({ op: "catchup", device, expect, timeoutMs });
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((lg) => lg.stop()));
  }

  private deal<T>(items: T[]): T[][] {
    const shares: T[][] = this.all.map(() => []);
    items.forEach((item, i) => {
      shares[i % shares.length]?.push(item);
    });
    return shares;
  }
}
