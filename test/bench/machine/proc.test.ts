import { describe, expect, it } from "vitest";
import { parseProcStat, parseVmRss, readCpuTime, readRssBytes } from "../../../bench/machine/proc.js";

// A real line's shape: pid (comm) state ppid ... utime(14) stime(15) ...
const STAT = "4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 2735 0 0 0 1234 567 0 0 20 0 11 0 5 1100000000 25000 18446744073709551615";

describe("/proc parsing", () => {
  it("reads utime and stime after a command name holding spaces and parentheses", () => {
    const cpu = parseProcStat(STAT, 100);
    expect(cpu.user).toBeCloseTo(12.34);
    expect(cpu.system).toBeCloseTo(5.67);
    expect(cpu.total).toBeCloseTo(18.01);
  });

  it("scales by the clock tick rate it is given", () => {
    expect(parseProcStat(STAT, 1000).user).toBeCloseTo(1.234);
  });

  it("refuses text that is not a stat line", () => {
    expect(() => parseProcStat("no parentheses here", 100)).toThrow(/not a \/proc/);
    expect(() => parseProcStat("1 (x) S 1", 100)).toThrow(/utime/);
  });

  it("reads VmRSS in bytes and refuses a status without it", () => {
    expect(parseVmRss("Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51200 kB\nThreads:\t7\n")).toBe(51200 * 1024);
    expect(() => parseVmRss("Name:\tzombie\nState:\tZ\n")).toThrow(/VmRSS/);
  });

  it("reads this very process", () => {
    expect(readCpuTime(process.pid).total).toBeGreaterThan(0);
    expect(readRssBytes(process.pid)).toBeGreaterThan(1024 * 1024);
  });
});
