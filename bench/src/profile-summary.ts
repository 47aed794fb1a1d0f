/**
 * Summarises `.cpuprofile` files written by `--cpu-prof` (e.g. `npm run bench --
 * throughput --cpu-prof /tmp/prof`): self time per function and per file, and
 * inclusive time of the functions on the hot paths.
 *
 * `node --import tsx src/profile-summary.ts <file.cpuprofile> [top=30]`
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: profile-summary <file.cpuprofile> [top]\n");
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas.
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const short = (url: string) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/work\/main\//, "")
    .replace(/^.*node_modules\//, "~/");
const label = (n: Node) =>
  `${n.callFrame.functionName || "(anonymous)"} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusiveByFn = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id) as Node;
  selfByFn.set(label(n), (selfByFn.get(label(n)) ?? 0) + us);
  const f = short(n.callFrame.url) || n.callFrame.functionName;
  selfByFile.set(f, (selfByFile.get(f) ?? 0) + us);
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur) as Node);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusiveByFn.set(l, (inclusiveByFn.get(l) ?? 0) + us);
  }
}

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    process.stdout.write(`${pct(v)} ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
};
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n`);
print("self time by function", selfByFn, top);
print("self time by file", selfByFile, top);
print("inclusive time by function", inclusiveByFn, top);
