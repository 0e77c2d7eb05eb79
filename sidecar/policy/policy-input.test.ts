import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../lib/cli/flags.js";
import { loadPolicyInput, policyInput } from "./policy-input.js";
import { configErrorLines } from "../../test/helpers/error-code.js";

const POLICY = "version: 1\nlisteners:\n  http:\n    allow:\n      - spiffe://example.org/ns/web/sa/frontend\n";

function configMap(data: string, name = "orders-policy"): string {
  return ["apiVersion: v1", "kind: ConfigMap", "metadata:", `  name: ${name}`, "data:", data].join("\n") + "\n";
}

/** A policy as a `|` block under `key`, indented by `indent` spaces below it. */
function block(key: string, policy: string, indent = 4): string {
  const pad = " ".repeat(indent);
  return `  ${key}: |\n${policy.trimEnd().split("\n").map((l) => (l === "" ? "" : pad + l)).join("\n")}\n`;
}


describe("policyInput", () => {
  it("takes a plain policy file as it is", () => {
    const input = policyInput(POLICY, "policy.yaml");
    expect(input.text).toBe(POLICY);
    expect(input.configMap).toBeUndefined();
    expect(input.position(5, 9)).toEqual({ line: 5, col: 9 });
  });

  it("reads the policy.yaml key of the shipped example ConfigMaps", async () => {
    for (const workload of ["orders", "frontend"]) {
      const file = `deploy/kubernetes/examples/shop/${workload}/policy.yaml`;
      const input = policyInput(await readFile(file, "utf8"), file);
      expect(input.configMap).toEqual({ name: `${workload}-policy`, key: "policy.yaml" });
      expect(loadPolicyInput(input).listeners).toContain("http");
    }
  });

  it("places errors inside a | block at their line and column in the ConfigMap file", () => {
    // ConfigMap lines 1-5 are the header; the block starts at line 6 with "policy.yaml: |".
    const bad = "version: 1\nlisteners:\n  http:\n    allow:\n      - spiffe://Example.org/x\n    alow: []\n";
    const text = configMap(block("policy.yaml", bad));
    expect(text.split("\n")[10]).toBe("          - spiffe://Example.org/x"); // line 11: the policy's line 5, 4 spaces further right
    expect(configErrorLines(() => loadPolicyInput(policyInput(text, "cm.yaml")))).toEqual([
      expect.stringMatching(/^cm\.yaml:11:13: listeners\.http\.allow\[0\]: .*trust domain characters are limited/),
      "cm.yaml:12:9: listeners.http.alow: unknown key (expected one of: allow, deny, mode)",
    ]);
  });

  it("places a YAML syntax error inside the block in the ConfigMap file, once", () => {
    const bad = "version: 1\nlisteners:\n  http:\n    allow:\n    - spiffe://example.org/a\n   - spiffe://example.org/b\n";
    const text = configMap(block("policy.yaml", bad));
    expect(configErrorLines(() => loadPolicyInput(policyInput(text, "cm.yaml")))).toEqual(["cm.yaml:12:5: YAML syntax: A block sequence may not be used as an implicit map key"]);
  });

  it("takes the only key whatever its name, or the one --key names", () => {
    const only = policyInput(configMap(block("rules.yaml", POLICY)), "cm.yaml");
    expect(only.configMap?.key).toBe("rules.yaml");
    const two = configMap(block("a.yaml", POLICY) + block("b.yaml", POLICY.replace("frontend", "other")));
    const chosen = policyInput(two, "cm.yaml", "b.yaml");
    expect(chosen.configMap?.key).toBe("b.yaml");
    expect(chosen.text).toContain("sa/other");
  });

  it("says which key to name when there are several and none is policy.yaml", () => {
    const two = configMap(block("a.yaml", POLICY) + block("b.yaml", POLICY));
    expect(() => policyInput(two, "cm.yaml")).toThrow(UsageError);
    expect(() => policyInput(two, "cm.yaml")).toThrow(
      'cm.yaml: ConfigMap orders-policy has no key "policy.yaml" under data (its keys: a.yaml, b.yaml): name the key that holds the policy (the file name in the sidecar\'s policyFile) with --key, e.g. --key a.yaml',
    );
    expect(() => policyInput(two, "cm.yaml", "c.yaml")).toThrow('ConfigMap orders-policy has no key "c.yaml" under data (its keys: a.yaml, b.yaml); name one of them with --key');
  });

  it("refuses --key for a file that is not a ConfigMap", () => {
    expect(() => policyInput(POLICY, "policy.yaml", "policy.yaml")).toThrow(/--key policy\.yaml reads a key of a Kubernetes ConfigMap, and policy\.yaml is not one/);
  });

  it("explains a policy written as YAML under data instead of as a string, and a ConfigMap without data", () => {
    const nested = configMap("  policy.yaml:\n    version: 1\n    listeners: {}\n");
    expect(configErrorLines(() => policyInput(nested, "cm.yaml"))).toEqual([
      'cm.yaml:7:5: data.policy.yaml: expected the policy as a string, got a mapping: ConfigMap values are strings, so write "policy.yaml: |" and the policy indented below it',
    ]);
    expect(configErrorLines(() => policyInput("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "cm.yaml"))).toEqual([
      expect.stringMatching(/^cm\.yaml:1:1: data: ConfigMap x has no data mapping: the policy goes under data as "policy\.yaml: \|"/),
    ]);
    expect(configErrorLines(() => policyInput(configMap("  policy.yaml: \"\""), "cm.yaml"))).toEqual([expect.stringMatching(/^cm\.yaml:6:16: data\.policy\.yaml: is empty/)]);
  });

  it("places errors in a quoted or folded value at the value's start, with the position inside it", () => {
    const quoted = configMap('  policy.yaml: "version: 2\\nlisteners: {}\\n"');
    expect(configErrorLines(() => loadPolicyInput(policyInput(quoted, "cm.yaml")))).toEqual([
      "cm.yaml:6:16: version: this sidecar understands policy version 1, got 2 (at line 1, column 10 of the policy.yaml value)",
    ]);
  });
});
