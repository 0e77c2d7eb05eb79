/**
 * The metrics docs/metrics.md documents, and those of a program's real
 * `/metrics` text (Prometheus exposition format), for comparing with each
 * other and with what alerts and dashboards use.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./kustomize.js";

/** A metric family in exposition text: its type and, per label, the values seen. */
export interface ExposedMetric {
  readonly type: string;
  readonly labels: Map<string, Set<string>>;
}

/** The metric reference page: the project's own statement of its metric contract. */
export const METRICS_DOC = join(REPO, "docs/metrics.md");

/** One row of docs/metrics.md: a metric, its type, its labels and the values documented for each. */
export interface DocumentedMetric {
  readonly type: string;
  readonly labels: readonly string[];
  /** Label → the values the page lists for it; labels with open-ended values (listener names, rules) list none. */
  readonly values: ReadonlyMap<string, readonly string[]>;
}

/**
 * The metrics listed in docs/metrics.md, by name. Rows look like
 * `| \`name\` | type | \`label\`, ... | \`label\`: \`v1\`, \`v2\`; ... | meaning |`.
 */
export function documentedMetrics(text: string = readFileSync(METRICS_DOC, "utf8")): Map<string, DocumentedMetric> {
  const metrics = new Map<string, DocumentedMetric>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const name = /^`(mesh_[a-z0-9_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (!line.startsWith("|") || name === undefined) continue;
    const labels = [...(cells[3] ?? "").matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string);
    const values = new Map<string, readonly string[]>();
    for (const part of (cells[4] ?? "").split(";")) {
      const label = /^\s*`([a-z_]+)`:/.exec(part);
      if (!label) continue;
      const listed = [...part.slice(label[0].length).matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
      values.set(label[1] as string, listed);
    }
    metrics.set(name, { type: cells[2] ?? "", labels, values });
  }
  if (metrics.size === 0) throw new Error(`${METRICS_DOC} lists no metric rows`);
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
