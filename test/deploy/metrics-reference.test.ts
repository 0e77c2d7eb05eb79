/**
 * docs/metrics.md is the metric contract: every metric both programs serve
 * is documented there with its type and labels, every documented metric is
 * served, and the values a label is zero-initialised with are the values
 * the page lists.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { documentedMetrics, type DocumentedMetric, type ExposedMetric } from "./exposition.js";
import { caMetrics, sidecarMetrics } from "./metrics-endpoint.js";

let exposed: Map<string, ExposedMetric>;
const documented = documentedMetrics();

beforeAll(async () => {
  exposed = new Map([...(await sidecarMetrics()), ...(await caMetrics())]);
});

function ours(names: Iterable<string>): string[] {
  return [...names].filter((n) => n.startsWith("mesh_")).sort();
}

describe("docs/metrics.md", () => {
  it("reads rows with types, labels and value lists", () => {
    const text = [
      "| metric | type | labels | label values | meaning |",
      "| `mesh_x_total` | counter | `listener`, `result` | `result`: `ok`, `error` | things |",
      "| `mesh_y_seconds` | gauge | | | a time |",
    ].join("\n");
    const rows = documentedMetrics(text);
    expect(rows.get("mesh_x_total")).toEqual({ type: "counter", labels: ["listener", "result"], values: new Map([["result", ["ok", "error"]]]) });
    expect(rows.get("mesh_y_seconds")?.labels).toEqual([]);
    expect(() => documentedMetrics("no table here")).toThrow(/lists no metric rows/);
  });

  it("documents every metric the programs serve, and serves every metric it documents", () => {
    expect(ours(documented.keys())).toEqual(ours(exposed.keys()));
  });

  it("gives each metric the type and the labels the program registers", () => {
    const problems: string[] = [];
    for (const [name, doc] of documented) {
      const real = exposed.get(name);
      if (!real) continue; // reported above
      if (real.type !== doc.type) problems.push(`${name}: documented as ${doc.type}, served as ${real.type}`);
      const labels = [...real.labels.keys()].filter((l) => l !== "le").sort();
      if (labels.join(",") !== [...doc.labels].sort().join(",")) {
        problems.push(`${name}: documented labels {${doc.labels.join(",")}}, served {${labels.join(",")}}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("lists, for each fixed-value label, exactly the values the program initialises", () => {
    const problems: string[] = [];
    for (const [name, doc] of documented) {
      const real = exposed.get(name);
      if (!real) continue;
      for (const [label, values] of fixedValues(doc)) {
        const served = [...(real.labels.get(label) ?? [])].sort();
        if (served.join(",") !== [...values].sort().join(",")) {
          problems.push(`${name}{${label}}: documented ${values.join(", ")}; served ${served.join(", ")}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

/** Labels whose documented values are a closed list (not "an entry of the policy" and the like). */
function fixedValues(doc: DocumentedMetric): [string, readonly string[]][] {
  return [...doc.values].filter(([label]) => label !== "rule" && label !== "listener");
}
