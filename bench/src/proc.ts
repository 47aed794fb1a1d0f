/** Reading processes and the machine from /proc (Linux). */
import { readdirSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

const TICKS_PER_SEC = 100;

/** CPU time (user + system) a process used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

/** Measures a process's CPU use between `start()` and `stop()`, as % of one core. */
export function cpuMeter(pid: number): { stop(): number } {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      return seconds > 0 ? ((cpuSeconds(pid) - c0) / seconds) * 100 : 0;
    },
  };
}

/** The soft limit on open files of a process. */
export function openFileLimit(pid: number): number {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return m?.[1] && m[1] !== "unlimited" ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

/** Direct children of this process whose command line contains `needle`. */
export function childPids(needle: string): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    let children = "";
    try {
      children = readFileSync(`/proc/${process.pid}/task/${tid}/children`, "utf8");
    } catch {
      continue;
    }
    for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)) out.push(pid);
      } catch {
        // exited
      }
    }
  }
  return out;
}

/** What the bench ran on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  platform: string;
  kernel: string;
  /** Open-file limit of processes started from here (one per connection). */
  openFileLimit: number;
}

export function machineInfo(): MachineInfo {
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    // not Linux
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel,
    openFileLimit: openFileLimit(process.pid),
  };
}
