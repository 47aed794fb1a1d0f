import type { ParleyDeps } from "@parley/server";
import type { DependencyCheck } from "./readiness.js";

/** What the entry point runs: a role's parts, composed from the config. */
export interface Composition {
  /** The Connect API's dependencies; absent for a worker (no API). */
  deps?: ParleyDeps;
  /** What `/readyz` checks besides the process having started. */
  checks: DependencyCheck[];
  /** Counters for `/healthz`. */
  stats(): Record<string, number | string>;
  /** Stops consumers and closes the connections, in dependency order. */
  close(): Promise<void>;
}
