/**
 * The metric names of DESIGN.md's contract, and of a program's real
 * `/metrics` text (Prometheus exposition format), for comparing with what
 * alerts and dashboards use.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./kustomize.js";

/** A metric family in exposition text: its type and, per label, the values seen. */
export interface ExposedMetric {
  readonly type: string;
  readonly labels: Map<string, Set<string>>;
}

/** shared/DESIGN.md sits beside the checkout (as shared/conformance does for other tests). */
export const DESIGN_FILE = join(REPO, "../shared/DESIGN.md");

/** Metric names and label names listed under "## Contract: metrics" in DESIGN.md. */
export function contractMetrics(designText: string = readFileSync(DESIGN_FILE, "utf8")): Map<string, readonly string[]> {
  const start = designText.indexOf("## Contract: metrics");
  if (start < 0) throw new Error(`${DESIGN_FILE} has no "## Contract: metrics" section`);
  const end = designText.indexOf("\n## ", start + 1);
  const section = designText.slice(start, end < 0 ? undefined : end);
  const metrics = new Map<string, readonly string[]>();
  for (const m of section.matchAll(/`(mesh_[a-z0-9_]+)(?:\{([a-z0-9_,\s]*)\})?`/g)) {
    const labels = (m[2] ?? "").split(",").map((l) => l.trim()).filter(Boolean);
    metrics.set(m[1] as string, labels);
  }
  return metrics;
}

/** Parses exposition text into families by name; `_bucket/_sum/_count` samples belong to their histogram or summary. */
export function parseExposition(text: string): Map<string, ExposedMetric> {
  const families = new Map<string, ExposedMetric>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type) families.set(type[1] as string, { type: type[2] as string, labels: new Map() });
  }
  for (const line of text.split("\n")) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!sample || line.startsWith("#")) continue;
    const family = families.get(familyOf(sample[1] as string, families));
    if (!family) throw new Error(`sample without a # TYPE line: ${line}`);
    for (const pair of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const values = family.labels.get(pair[1] as string) ?? new Set<string>();
      values.add(pair[2] as string);
      family.labels.set(pair[1] as string, values);
    }
  }
  return families;
}

/** The family a sample or series name belongs to: itself, or the histogram/summary it is a part of. */
export function familyOf(name: string, families: ReadonlyMap<string, ExposedMetric>): string {
  if (families.has(name)) return name;
  const part = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = part?.[1];
  const type = base === undefined ? undefined : families.get(base)?.type;
  if (base !== undefined && (type === "histogram" || (type === "summary" && part?.[2] !== "bucket"))) return base;
  return name;
}
