/** Latency samples in milliseconds: a bounded uniform reservoir plus exact count and max. */
export class Samples {
  private readonly values: Float64Array;
  private stored = 0;
  count = 0;
  max = 0;
  sum = 0;

  constructor(private readonly capacity = 100_000) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    if (this.stored < this.capacity) {
      this.values[this.stored++] = ms;
    } else {
      const j = Math.floor(Math.random() * this.count);
      if (j < this.capacity) this.values[j] = ms;
    }
  }

  /** A plain object to send between processes. */
  snapshot(): SampleSnapshot {
    return {
      count: this.count,
      max: this.max,
      sum: this.sum,
      values: Array.from(this.values.subarray(0, this.stored)),
    };
  }
}

/** {@link Samples} as sent over IPC. */
export interface SampleSnapshot {
  count: number;
  max: number;
  sum: number;
  values: number[];
}

/** Percentiles of a latency distribution, in ms. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Merges snapshots (each reservoir weighted by the count it stands for) and summarises. */
export function summarize(snapshots: SampleSnapshot[]): LatencySummary {
  const count = snapshots.reduce((n, s) => n + s.count, 0);
  if (count === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const weighted: { v: number; w: number }[] = [];
  for (const s of snapshots) {
    if (s.values.length === 0) continue;
    const w = s.count / s.values.length;
    for (const v of s.values) weighted.push({ v, w });
  }
  weighted.sort((a, b) => a.v - b.v);
  const total = weighted.reduce((n, x) => n + x.w, 0);
  const pct = (p: number) => {
    const goal = total * p;
    let acc = 0;
    for (const x of weighted) {
      acc += x.w;
      if (acc >= goal) return x.v;
    }
    return weighted[weighted.length - 1]?.v ?? 0;
  };
  return {
    count,
    mean: snapshots.reduce((n, s) => n + s.sum, 0) / count,
    p50: pct(0.5),
    p95: pct(0.95),
    p99: pct(0.99),
    max: Math.max(...snapshots.map((s) => s.max)),
  };
}
