/**
 * CPU time of processes from /proc (Linux), so the report can say where a
 * scenario's CPU went: the gateway, the database servers, the load client.
 * On a small machine these share the cores, so CPU per operation explains a
 * ratio better than throughput alone. Readers return undefined without /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux build node runs on). */
const TICKS_PER_SECOND = 100;

/** Parent pid and user+system CPU seconds of `pid`, or undefined when it is gone. */
function readStat(pid: number): { ppid: number; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field - 3.
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? { ppid, seconds: ticks / TICKS_PER_SECOND } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) used so far by `pid` and its live direct
 * children (the workers of `--workers=N`), or undefined when /proc is missing.
 */
export function processTreeCpuSeconds(pid: number): number | undefined {
  const own = readStat(pid);
  if (own === undefined) return undefined;
  let total = own.seconds;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return total;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const child = readStat(Number(entry));
    if (child !== undefined && child.ppid === pid) total += child.seconds;
  }
  return total;
}

/** CPU seconds used so far by each of `pids`, summed; undefined when any is unreadable or the list is empty. */
export function cpuSecondsOf(pids: readonly number[]): number | undefined {
  if (pids.length === 0) return undefined;
  let total = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat === undefined) return undefined;
    total += stat.seconds;
  }
  return total;
}

/** CPU seconds (user + system) used so far by this process: the load client. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Whole-machine CPU ticks from the `cpu` line of /proc/stat: time stolen by the hypervisor, and all time. */
export interface HostTicks {
  steal: number;
  total: number;
}

/**
 * Parses the aggregate `cpu` line of /proc/stat (user nice system idle iowait
 * irq softirq steal guest guest_nice; guest time is already inside user and
 * nice, so it is not added again). Undefined when the line is missing.
 */
export function parseHostTicks(procStat: string): HostTicks | undefined {
  const line = /^cpu\s+(.+)$/m.exec(procStat)?.[1];
  if (line === undefined) return undefined;
  const fields = line.trim().split(/\s+/).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
  return { steal: fields[7] ?? 0, total: fields.slice(0, 8).reduce((sum, n) => sum + n, 0) };
}

/** The machine's CPU ticks so far, or undefined without /proc. */
export function hostTicks(): HostTicks | undefined {
  try {
    return parseHostTicks(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Share (0..100) of the machine's CPU time between two readings that the
 * hypervisor gave to other guests: on a shared host, ratios measured while
 * it is high are less reliable. Undefined when either reading is missing.
 */
export function stealPercent(before: HostTicks | undefined, after: HostTicks | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  const total = after.total - before.total;
  return total > 0 ? (100 * (after.steal - before.steal)) / total : undefined;
}
