// CPU accounting for benchmarks on a small shared machine: the cores each process used during a run
// explain the figures better than the figures alone (Linux /proc; null elsewhere).
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, or null when it cannot be read (not Linux, process gone). */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine (all cores), or null off Linux. */
export function machineBusySeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    return (cpu.reduce((a, b) => a + b, 0) - idle) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export interface CpuSnapshot {
  at: number;
  machine: number | null;
  byName: Map<string, number | null>;
}

export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  return { at: Date.now(), machine: machineBusySeconds(), byName: new Map(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)])) };
}

/** Cores used between two snapshots, per process, plus "other" (everything else on the machine). */
export function coresUsed(before: CpuSnapshot, after: CpuSnapshot): Record<string, number | null> {
  const wall = (after.at - before.at) / 1000;
  const out: Record<string, number | null> = {};
  let ours = 0;
  for (const [name, b] of before.byName) {
    const a = after.byName.get(name) ?? null;
    out[name] = a === null || b === null || wall <= 0 ? null : (a - b) / wall;
    ours += out[name] ?? 0;
  }
  out.other = before.machine === null || after.machine === null || wall <= 0 ? null : Math.max(0, (after.machine - before.machine) / wall - ours);
  return out;
}

/** "server 0.82, kafka 0.31, other 0.05" */
export function formatCores(cores: Record<string, number | null>): string {
  return Object.entries(cores)
    .map(([name, value]) => `${name} ${value === null ? '?' : value.toFixed(2)}`)
    .join(', ');
}
