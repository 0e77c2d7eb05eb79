import { describe, expect, it } from "vitest";
import type { RoundFigures } from "../../../bench/phases.js";
import { fmt, fmtSpread, layout, renderTable, renderTargets, summarize, type Round } from "../../../bench/report/report.js";

function figures(over: Partial<RoundFigures>): RoundFigures {
  const base: RoundFigures = {
    handshakesPerSec: Number.NaN,
    handshakeCpuUs: Number.NaN,
    handshakesPerCpuSec: Number.NaN,
    handshakeLoadgenBusy: Number.NaN,
    resumedCpuUs: Number.NaN,
    resumedPerCpuSec: Number.NaN,
    resumedShare: Number.NaN,
    downloadMBps: Number.NaN,
    downloadCpuSecPerGB: Number.NaN,
    uploadMBps: Number.NaN,
    uploadCpuSecPerGB: Number.NaN,
    latencyP50Us: Number.NaN,
    latencyP99Us: Number.NaN,
    latencyCpuUsPerReq: Number.NaN,
    idleRssMB: Number.NaN,
    idleRssPerConnKB: Number.NaN,
    idleHeapPerConnKB: Number.NaN,
    idleHeld: 0,
    tickets: 0,
    errors: 0,
  };
  return { ...base, ...over };
}

const ROUNDS: Round[] = [
  {
    direct: figures({ latencyP50Us: 100 }),
    haproxy: figures({ handshakesPerCpuSec: 400, downloadMBps: 500, latencyP50Us: 200, idleRssPerConnKB: 30 }),
    sidecar: figures({ handshakesPerCpuSec: 300, downloadMBps: 500, latencyP50Us: 250, idleRssPerConnKB: 60 }),
  },
  {
    direct: figures({ latencyP50Us: 120 }),
    haproxy: figures({ handshakesPerCpuSec: 500, downloadMBps: 400, latencyP50Us: 220, idleRssPerConnKB: 30 }),
    sidecar: figures({ handshakesPerCpuSec: 500, downloadMBps: 480, latencyP50Us: 240, idleRssPerConnKB: 30 }),
  },
  {
    direct: figures({ latencyP50Us: 110 }),
    haproxy: figures({ handshakesPerCpuSec: 450, downloadMBps: 450, latencyP50Us: 210, idleRssPerConnKB: 30 }),
    sidecar: figures({ handshakesPerCpuSec: 360, downloadMBps: 450, latencyP50Us: 260, idleRssPerConnKB: 45 }),
  },
];
const TARGETS = ["direct", "haproxy", "sidecar"];

describe("bench report", () => {
  const summary = summarize(ROUNDS, TARGETS);

  it("gives each figure's median and range over rounds", () => {
    expect(summary["handshakesPerCpuSec"]?.["sidecar"]?.value).toEqual({ median: 360, min: 300, max: 500, n: 3 });
  });

  it("takes ratios to haproxy round by round, then their median", () => {
    // Per round: 0.75, 1.0, 0.8 → median 0.8 (the ratio of medians would be 0.8 too, by chance; the range tells them apart).
    expect(summary["handshakesPerCpuSec"]?.["sidecar"]?.ratio).toEqual({ median: 0.8, min: 0.75, max: 1, n: 3 });
    expect(summary["downloadMBps"]?.["haproxy"]?.ratio.median).toBe(1);
  });

  it("measures added latency against direct in the same round", () => {
    // haproxy adds 100, 100, 100; the sidecar 150, 120, 150 → ratios 1.5, 1.2, 1.5.
    expect(summary["addedP50Us"]?.["haproxy"]?.value.median).toBe(100);
    expect(summary["addedP50Us"]?.["sidecar"]?.value).toEqual({ median: 150, min: 120, max: 150, n: 3 });
    expect(summary["addedP50Us"]?.["sidecar"]?.ratio.median).toBe(1.5);
    expect(summary["addedP50Us"]?.["direct"]?.value.n).toBe(0);
  });

  it("prints a row per figure with median (min–max) and a ratio column per proxy", () => {
    const text = renderTable(summary, TARGETS);
    const header = text.split("\n")[0] ?? "";
    expect(header).toMatch(/^figure\s+direct\s+haproxy\s+sidecar\s+sidecar ÷ haproxy$/);
    const row = text.split("\n").find((l) => l.startsWith("new conns per proxy CPU-second"));
    expect(row).toMatch(/450 \(400–500\)\s+360 \(300–500\)\s+0\.80×$/);
  });

  it("prints a Markdown table for the docs", () => {
    const md = renderTable(summary, TARGETS, true).split("\n");
    expect(md[0]).toBe("| figure | direct | haproxy | sidecar | sidecar ÷ haproxy |");
    expect(md[1]).toBe("| --- | --- | --- | --- | --- |");
  });

  it("judges the issue's targets from the median ratios", () => {
    const text = renderTargets(summary, "sidecar");
    expect(text).toMatch(/handshakes\/s per proxy core \(Node 20\)\s+≥ 1\.0×\s+0\.80×\s+NOT met/);
    expect(text).toMatch(/download MB\/s\s+≥ 1\.0×\s+1\.00×\s+met/);
    expect(text).toMatch(/RSS per idle connection\s+≤ 1\.5×\s+1\.50×\s+met/);
    expect(text).toMatch(/upload MB\/s\s+≥ 0\.9×\s+—\s+not measured/);
  });

  it("asks 1.3× of the Node 24 sidecar for handshakes", () => {
    const s24 = summarize(
      ROUNDS.map((r) => ({ ...r, "sidecar-node24": r["sidecar"] as RoundFigures })),
      [...TARGETS, "sidecar-node24"],
    );
    expect(renderTargets(s24, "sidecar-node24")).toMatch(/handshakes\/s per proxy core \(Node 24\)\s+≥ 1\.3×\s+0\.80×\s+NOT met/);
  });

  it("formats numbers to a few significant places and missing ones as a dash", () => {
    expect([fmt(12345.6), fmt(45.67), fmt(3.14159), fmt(0.01234), fmt(Number.NaN)]).toEqual(["12,346", "45.7", "3.14", "0.012", "—"]);
    expect(fmtSpread({ median: 2, min: 2, max: 2, n: 3 })).toBe("2.00");
  });

  it("pads text columns to the widest cell", () => {
    expect(layout(["a", "bb"], [["ccc", "d"]], false)).toBe("a    bb\n---  --\nccc  d");
  });
});
