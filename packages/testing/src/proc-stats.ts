/** CPU and memory of processes, read from /proc: what benchmarks and load tests report. */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of /proc's utime/stime (USER_HZ; 100 on Linux unless told otherwise). */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Infrastructure processes whose CPU a benchmark counts beside the node's own processes. */
const INFRA_COMMANDS = new Set(['nats-server', 'postgres', 'redis-server']);

/** utime + stime of one process, in seconds, and its command name; undefined once it is gone. */
function processCpu(pid: number): { seconds: number; command: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command sits in parentheses and may itself contain spaces or parentheses.
    const close = stat.lastIndexOf(')');
    const command = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // Fields after the command start at field 3 (state): utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { seconds: ticks / TICKS_PER_SECOND, command };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds by process: the given processes under their group names, and every infrastructure
 * process on the machine under its command name.
 */
export function cpuSnapshot(groups: ReadonlyMap<number, string>): Map<number, { seconds: number; group: string }> {
  const out = new Map<number, { seconds: number; group: string }>();
  for (const [pid, group] of groups) {
    const cpu = processCpu(pid);
    if (cpu) out.set(pid, { seconds: cpu.seconds, group });
  }
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || out.has(pid)) continue;
    const cpu = processCpu(pid);
    if (cpu && INFRA_COMMANDS.has(cpu.command)) out.set(pid, { seconds: cpu.seconds, group: cpu.command });
  }
  return out;
}

/**
 * CPU seconds spent between two snapshots, by group. A process that started in between counts from zero; one that ended in between is lost,
 * which undercounts only short-lived Postgres backends (the node's pools keep theirs open).
 */
export function cpuSpent(
  before: Map<number, { seconds: number; group: string }>,
  after: Map<number, { seconds: number; group: string }>,
): Record<string, number> {
  const spent: Record<string, number> = {};
  for (const [pid, now] of after) {
    const delta = now.seconds - (before.get(pid)?.seconds ?? 0);
    spent[now.group] = (spent[now.group] ?? 0) + Math.max(0, delta);
  }
  return spent;
}

/** Busy seconds of the whole machine (all cores) from /proc/stat, idle and iowait excluded. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, ...values] = line.trim().split(/\s+/);
  const ticks = values.map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return (ticks.slice(0, 8).reduce((s, t) => s + t, 0) - idle) / TICKS_PER_SECOND;
}

/** Resident memory of a process, in bytes (VmRSS in /proc/<pid>/status); 0 once it is gone. */
export function residentBytes(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
