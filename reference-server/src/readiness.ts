/** One dependency `/readyz` checks. */
export interface DependencyCheck {
  name: string;
  /** Resolves when the dependency answered a real request; rejects otherwise. */
  check(): Promise<void>;
}

/** The answer of `/readyz`. */
export interface ReadinessReport {
  ready: boolean;
  /** Per dependency: "ok" or why it failed. */
  checks: Record<string, string>;
}

/** Options for {@link createReadiness}. */
export interface ReadinessOptions {
  checks: DependencyCheck[];
  /** Whether the process itself is ready (listening, consumers started, not stopping). */
  started: () => boolean;
  /** Longest a check may take before it counts as failed. @defaultValue 2000 */
  timeoutMs?: number;
  /** How long a report is reused, so probes don't load the dependencies. @defaultValue 1000 */
  cacheMs?: number;
  /** Called with each check's result (metrics). */
  onResult?: (name: string, up: boolean) => void;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * `/readyz`: ready only when the process has started and every dependency answers.
 * Checks run in parallel, each with a timeout; concurrent probes share one run.
 */
export function createReadiness(options: ReadinessOptions): () => Promise<ReadinessReport> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 1000;
  let last: { at: number; report: Promise<ReadinessReport> } | undefined;
  const run = async (): Promise<ReadinessReport> => {
    const checks: Record<string, string> = {};
    await Promise.all(
      options.checks.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), timeoutMs);
          checks[name] = "ok";
          options.onResult?.(name, true);
        } catch (err) {
          checks[name] = err instanceof Error ? err.message : String(err);
          options.onResult?.(name, false);
        }
      }),
    );
    return { ready: Object.values(checks).every((c) => c === "ok"), checks };
  };
  return async () => {
    const now = Date.now();
    if (!last || now - last.at >= cacheMs) last = { at: now, report: run() };
    const report = await last.report;
    return { ready: options.started() && report.ready, checks: report.checks };
  };
}
