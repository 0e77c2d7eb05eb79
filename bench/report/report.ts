/**
 * Turns rounds of figures into the printed table: median (min–max) per target
 * and the ratio to haproxy of the same round (median of per-round ratios, so
 * drift of the machine between rounds cancels), plus the issue's targets.
 */
import type { RoundFigures } from "../phases.js";
import { ratio, spread, type Spread } from "./stats.js";

/** Figures of every target in one round, keyed by target name. */
export type Round = Record<string, RoundFigures>;

/** A figure as printed: which way is better decides nothing but the label. */
export interface FigureDef<F = RoundFigures> {
  readonly key: string;
  readonly label: string;
  readonly better: "higher" | "lower" | "info";
  /** Reads the figure of `target` in `round` (may use other targets, e.g. direct). */
  readonly read: (round: Readonly<Record<string, F>>, target: string) => number;
}

/** Reads field `k` of the target's figures. */
export const plain =
  <F>(k: { [K in keyof F]: F[K] extends number ? K : never }[keyof F]) =>
  (round: Readonly<Record<string, F>>, target: string): number =>
    (round[target]?.[k] as number | undefined) ?? Number.NaN;

const overDirect =
  (k: "latencyP50Us" | "latencyP99Us") =>
  (round: Round, target: string): number =>
    target === "direct" ? Number.NaN : (round[target]?.[k] ?? Number.NaN) - (round["direct"]?.[k] ?? Number.NaN);

/** Every figure in print order. */
export const FIGURES: readonly FigureDef[] = [
  { key: "handshakesPerSec", label: "new mTLS conns/s (offered by loadgen)", better: "higher", read: plain("handshakesPerSec") },
  { key: "handshakeCpuUs", label: "proxy CPU per new conn, µs", better: "lower", read: plain("handshakeCpuUs") },
  { key: "handshakesPerCpuSec", label: "new conns per proxy CPU-second", better: "higher", read: plain("handshakesPerCpuSec") },
  { key: "handshakeLoadgenBusy", label: "loadgen core busy in conn test", better: "info", read: plain("handshakeLoadgenBusy") },
  { key: "resumedCpuUs", label: "proxy CPU per resumed conn, µs", better: "lower", read: plain("resumedCpuUs") },
  { key: "resumedPerCpuSec", label: "resumed conns per proxy CPU-second", better: "higher", read: plain("resumedPerCpuSec") },
  { key: "resumedShare", label: "share of conns resumed in that test", better: "info", read: plain("resumedShare") },
  { key: "downloadMBps", label: "download MB/s", better: "higher", read: plain("downloadMBps") },
  { key: "downloadCpuSecPerGB", label: "proxy CPU s per GB down", better: "lower", read: plain("downloadCpuSecPerGB") },
  { key: "uploadMBps", label: "upload MB/s", better: "higher", read: plain("uploadMBps") },
  { key: "uploadCpuSecPerGB", label: "proxy CPU s per GB up", better: "lower", read: plain("uploadCpuSecPerGB") },
  { key: "latencyP50Us", label: "latency p50, µs", better: "lower", read: plain("latencyP50Us") },
  { key: "latencyP99Us", label: "latency p99, µs", better: "lower", read: plain("latencyP99Us") },
  { key: "addedP50Us", label: "added p50 over direct, µs", better: "lower", read: overDirect("latencyP50Us") },
  { key: "addedP99Us", label: "added p99 over direct, µs", better: "lower", read: overDirect("latencyP99Us") },
  { key: "latencyCpuUsPerReq", label: "proxy CPU per request, µs", better: "lower", read: plain("latencyCpuUsPerReq") },
  { key: "idleRssMB", label: "proxy RSS with idle conns, MB", better: "lower", read: plain("idleRssMB") },
  { key: "idleRssPerConnKB", label: "RSS per idle conn, KiB", better: "lower", read: plain("idleRssPerConnKB") },
  { key: "idleHeapPerConnKB", label: "— of which V8 heap (Node proxies), KiB", better: "info", read: plain("idleHeapPerConnKB") },
  { key: "tickets", label: "session tickets sent per handshake", better: "info", read: plain("tickets") },
  { key: "errors", label: "failed operations", better: "info", read: plain("errors") },
];

/** One figure of one target over all rounds. */
export interface Cell {
  readonly value: Spread;
  /** Per-round value / haproxy's value in the same round. */
  readonly ratio: Spread;
}

/** Summary: figure key → target → cell. */
export type Summary = Record<string, Record<string, Cell>>;

/** Aggregates rounds; `reference` is the target ratios are taken against. */
export function summarize<F = RoundFigures>(
  rounds: readonly Readonly<Record<string, F>>[],
  targets: readonly string[],
  reference = "haproxy",
  figures: readonly FigureDef<F>[] = FIGURES as unknown as readonly FigureDef<F>[],
): Summary {
  const out: Summary = {};
  for (const f of figures) {
    const row: Record<string, Cell> = {};
    for (const t of targets) {
      const values = rounds.map((r) => f.read(r, t));
      const ratios = rounds.map((r) => ratio(f.read(r, t), f.read(r, reference)));
      row[t] = { value: spread(values), ratio: spread(ratios) };
    }
    out[f.key] = row;
  }
  return out;
}

/** A number in at most 4 significant places, "—" when missing. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "—";
  const a = Math.abs(n);
  if (a >= 100) return Math.round(n).toLocaleString("en-US");
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

/** "median (min–max)", or the median alone for one round or a constant. */
export function fmtSpread(s: Spread): string {
  if (s.n === 0) return "—";
  if (s.n === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

/** "0.78×", "—" when missing. */
export function fmtRatio(s: Spread): string {
  return Number.isFinite(s.median) ? `${s.median.toFixed(2)}×` : "—";
}

/** Lays rows out as an aligned text table, or a Markdown table. */
export function layout(header: readonly string[], rows: readonly (readonly string[])[], markdown: boolean): string {
  if (markdown) {
    const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The main table: one row per figure, a value column per target, a ratio column per non-reference proxy. */
export function renderTable<F = RoundFigures>(
  summary: Summary,
  targets: readonly string[],
  markdown = false,
  reference = "haproxy",
  figures: readonly FigureDef<F>[] = FIGURES as unknown as readonly FigureDef<F>[],
): string {
  const ratioTargets = targets.filter((t) => t !== reference && t !== "direct");
  const header = ["figure", ...targets, ...ratioTargets.map((t) => `${t} ÷ ${reference}`)];
  const rows = figures.map((f) => {
    const row = summary[f.key] ?? {};
    const arrow = f.better === "higher" ? " ↑" : f.better === "lower" ? " ↓" : "";
    return [
      f.label + arrow,
      ...targets.map((t) => (row[t] ? fmtSpread(row[t].value) : "—")),
      ...ratioTargets.map((t) => (row[t] && f.better !== "info" ? fmtRatio(row[t].ratio) : "—")),
    ];
  });
  return layout(header, rows, markdown);
}

/** One target of the performance issue. */
export interface IssueTarget {
  readonly figure: string;
  readonly key: string;
  readonly goal: string;
  /** Passes when the median ratio is on the right side of `bound`. */
  readonly bound: number;
  readonly atLeast: boolean;
}

/** The issue's targets, as ratios to haproxy in the same run. */
export const ISSUE_TARGETS: readonly IssueTarget[] = [
  { figure: "handshakes/s per proxy core (Node 20)", key: "handshakesPerCpuSec", goal: "≥ 1.0×", bound: 1.0, atLeast: true },
  { figure: "download MB/s", key: "downloadMBps", goal: "≥ 1.0×", bound: 1.0, atLeast: true },
  { figure: "upload MB/s", key: "uploadMBps", goal: "≥ 0.9×", bound: 0.9, atLeast: true },
  { figure: "added p50 latency over direct", key: "addedP50Us", goal: "≤ 1.2×", bound: 1.2, atLeast: false },
  { figure: "RSS per idle connection", key: "idleRssPerConnKB", goal: "≤ 1.5×", bound: 1.5, atLeast: false },
];

/** The issue asks more of Node 24 for handshakes (≥ 1.3×); everything else is the same. */
export function targetsFor(target: string): readonly IssueTarget[] {
  if (!target.includes("node24")) return ISSUE_TARGETS;
  return ISSUE_TARGETS.map((t) =>
    t.key === "handshakesPerCpuSec" ? { ...t, figure: "handshakes/s per proxy core (Node 24)", goal: "≥ 1.3×", bound: 1.3 } : t,
  );
}

/** The targets table for one proxy (e.g. "sidecar"): figure, goal, reached, verdict. */
export function renderTargets(summary: Summary, target: string, markdown = false): string {
  const rows = targetsFor(target).map((t) => {
    const cell = summary[t.key]?.[target];
    const r = cell?.ratio.median ?? Number.NaN;
    const verdict = !Number.isFinite(r) ? "not measured" : (t.atLeast ? r >= t.bound : r <= t.bound) ? "met" : "NOT met";
    return [t.figure, t.goal, cell ? fmtRatio(cell.ratio) : "—", verdict];
  });
  return layout(["target (ratio to haproxy)", "goal", `${target}`, "verdict"], rows, markdown);
}
