/**
 * CPU time and memory of a process from /proc. CPU time per operation stays
 * meaningful when the load generator, not the proxy, is the bottleneck: it is
 * what the proxy spent, whatever rate it was offered.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** CPU seconds (user + system, all threads) of a process. */
export interface CpuTime {
  readonly user: number;
  readonly system: number;
  readonly total: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so fields are
 * counted from the last ")". utime and stime are fields 14 and 15, in clock ticks.
 */
export function parseProcStat(text: string, clockTicksPerSecond: number): CpuTime {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error("not a /proc/<pid>/stat line: no command name in parentheses");
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error("not a /proc/<pid>/stat line: utime/stime missing");
  const user = utime / clockTicksPerSecond;
  const system = stime / clockTicksPerSecond;
  return { user, system, total: user + system };
}

/** Parses VmRSS (resident set) out of /proc/<pid>/status, in bytes. */
export function parseVmRss(statusText: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  if (!match) throw new Error("no VmRSS line in /proc/<pid>/status (is the process a zombie?)");
  return Number(match[1]) * 1024;
}

let clockTicks: number | undefined;

/** sysconf(_SC_CLK_TCK), asked once of getconf (100 on every Linux we know). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time of a live process. */
export function readCpuTime(pid: number): CpuTime {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"), clockTicksPerSecond());
}

/** Resident set size of a live process, in bytes. */
export function readRssBytes(pid: number): number {
  return parseVmRss(readFileSync(`/proc/${pid}/status`, "utf8"));
}
