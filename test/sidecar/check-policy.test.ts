/**
 * The built `mesh-sidecar check-policy` beyond the basics of cli.test.ts:
 * Kubernetes ConfigMaps (the shipped examples, positions in the ConfigMap
 * file, which key to name), --trust-domain warnings, --exit-code, and one
 * YAML mistake reported once.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

const EXAMPLE_POLICY = resolve("docs/examples/policy.yaml");
const ORDERS_CONFIGMAP = resolve("deploy/kubernetes/examples/shop/orders/policy.yaml");

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "check-policy-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function write(name: string, lines: string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

const HEADER = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: orders-policy", "data:"];

describe("check-policy on a Kubernetes ConfigMap", () => {
  it("reads the policy.yaml key of the shipped example and says so", async () => {
    const res = await runCli(["check-policy", "--policy", ORDERS_CONFIGMAP]);
    expect(res).toEqual({ code: 0, stdout: `${ORDERS_CONFIGMAP} (ConfigMap orders-policy, key policy.yaml): valid (1 listener, 1 entry)\n`, stderr: "" });
  });

  it("decides from a ConfigMap like from the file it holds", async () => {
    const allowed = await runCli(["check-policy", "--policy", ORDERS_CONFIGMAP, "--listener", "http", "--peer", "spiffe://example.org/ns/shop/sa/frontend"]);
    expect(allowed).toMatchObject({ code: 0, stdout: "allow spiffe://example.org/ns/shop/sa/frontend\n" });
    const denied = await runCli(["check-policy", "--policy", ORDERS_CONFIGMAP, "--listener", "http", "--peer", "spiffe://example.org/ns/shop/sa/intruder"]);
    expect(denied).toMatchObject({ code: 0, stdout: "deny default\n" });
  });

  it("gives errors at their line:col in the ConfigMap file, and exits 1", async () => {
    const file = await write("cm-bad.yaml", [
      ...HEADER,
      "  policy.yaml: |", // line 6
      "    version: 1",
      "    listeners:",
      "      http:",
      "        allow:",
      "          - spiffe://example.org/ns/shop/sa/front end", // line 11
      "        colour: blue", // line 12
    ]);
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/cm-bad\.yaml:11:13: listeners\.http\.allow\[0\]: .*path segment characters are limited/),
      `${file}:12:9: listeners.http.colour: unknown key (expected one of: allow, deny, mode)`,
      `${file}: invalid (2 errors)`,
    ]);
  });

  it("says exactly which key to name when several keys hold no policy.yaml, and exits 2; --key then reads it", async () => {
    const file = await write("cm-two.yaml", [
      ...HEADER,
      "  orders.yaml: |",
      "    version: 1",
      "    listeners:",
      "      http:",
      "        allow: [spiffe://example.org/ns/shop/sa/frontend]",
      "  README: see docs/sidecar.md",
    ]);
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `mesh-sidecar check-policy: ${file}: ConfigMap orders-policy has no key "policy.yaml" under data (its keys: orders.yaml, README): ` +
        "name the key that holds the policy (the file name in the sidecar's policyFile) with --key, e.g. --key orders.yaml\n",
    );
    const keyed = await runCli(["check-policy", "--policy", file, "--key", "orders.yaml"]);
    expect(keyed).toEqual({ code: 0, stdout: `${file} (ConfigMap orders-policy, key orders.yaml): valid (1 listener, 1 entry)\n`, stderr: "" });
    const wrong = await runCli(["check-policy", "--policy", file, "--key", "policy.yml"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('ConfigMap orders-policy has no key "policy.yml" under data (its keys: orders.yaml, README); name one of them with --key');
  });

  it("refuses --key for a plain policy file (exit 2)", async () => {
    const res = await runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--key", "policy.yaml"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`--key policy.yaml reads a key of a Kubernetes ConfigMap, and ${EXAMPLE_POLICY} is not one`);
  });

  it("explains a policy written as YAML under data rather than as a | string (exit 1)", async () => {
    const file = await write("cm-nested.yaml", [...HEADER, "  policy.yaml:", "    version: 1", "    listeners: {}"]);
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${file}:7:5: data.policy.yaml: expected the policy as a string, got a mapping: ConfigMap values are strings, so write "policy.yaml: |"`);
  });
});

describe("check-policy --trust-domain", () => {
  let file: string;
  beforeAll(async () => {
    file = await write("mixed-td.yaml", [
      "version: 1",
      "listeners:",
      "  http:",
      "    allow:",
      "      - spiffe://example.org/ns/web/sa/frontend",
      "      - spiffe://exmaple.org/ns/web/sa/admin", // line 6: a typo'd trust domain
      "    deny:",
      "      - spiffe://staging.example.org/ns/web/sa/legacy", // line 8
    ]);
  });

  it("warns on stderr about each entry of another trust domain, with its line, and still exits 0", async () => {
    const res = await runCli(["check-policy", "--policy", file, "--trust-domain", "example.org"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${file}: valid (1 listener, 3 entries)\n`);
    expect(res.stderr.trim().split("\n")).toEqual([
      `${file}:6:9: warning: listeners.http.allow[1]: spiffe://exmaple.org/ns/web/sa/admin is in trust domain exmaple.org, not example.org: the sidecar refuses peers of any other trust domain before the policy is asked, so this entry never matches`,
      expect.stringMatching(/:8:9: warning: listeners\.http\.deny\[0\]: spiffe:\/\/staging\.example\.org\/ns\/web\/sa\/legacy is in trust domain staging\.example\.org, not example\.org/),
    ]);
  });

  it("is quiet when every entry is of the trust domain, and warns in a ConfigMap at the ConfigMap's lines", async () => {
    expect(await runCli(["check-policy", "--policy", ORDERS_CONFIGMAP, "--trust-domain", "example.org"])).toMatchObject({ code: 0, stderr: "" });
    const other = await runCli(["check-policy", "--policy", ORDERS_CONFIGMAP, "--trust-domain", "prod.example.org"]);
    expect(other.code).toBe(0);
    expect(other.stderr).toMatch(/policy\.yaml:16:13: warning: listeners\.http\.allow\[0\]: spiffe:\/\/example\.org\/ns\/shop\/sa\/frontend is in trust domain example\.org, not prod\.example\.org/);
  });

  it("keeps the exit code of a decision, and refuses a name that is not a trust domain (exit 2)", async () => {
    const decision = await runCli(["check-policy", "--policy", file, "--trust-domain", "example.org", "--listener", "http", "--peer", "spiffe://example.org/ns/web/sa/frontend"]);
    expect(decision.code).toBe(0);
    expect(decision.stdout).toBe("allow spiffe://example.org/ns/web/sa/frontend\n");
    expect(decision.stderr.trim().split("\n")).toHaveLength(2);
    const bad = await runCli(["check-policy", "--policy", file, "--trust-domain", "Example.org"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--trust-domain "Example.org" is not a trust domain name');
  });
});

describe("check-policy --exit-code", () => {
  it("exits 1 on a deny and 0 on an allow; without it a deny exits 0", async () => {
    const ask = (peer: string, extra: string[] = []) => runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--listener", "http", "--peer", peer, ...extra]);
    expect(await ask("spiffe://example.org/ns/web/sa/legacy", ["--exit-code"])).toMatchObject({ code: 1, stdout: "deny spiffe://example.org/ns/web/sa/legacy\n" });
    expect(await ask("spiffe://example.org/ns/other/sa/x", ["--exit-code"])).toMatchObject({ code: 1, stdout: "deny default\n" });
    expect(await ask("spiffe://example.org/ns/web/sa/frontend", ["--exit-code"])).toMatchObject({ code: 0, stdout: "allow spiffe://example.org/ns/web/sa/frontend\n" });
    expect(await ask("spiffe://example.org/ns/web/sa/legacy")).toMatchObject({ code: 0, stdout: "deny spiffe://example.org/ns/web/sa/legacy\n" });
  });

  it("is a usage error without a decision to take (exit 2)", async () => {
    const res = await runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--exit-code"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--exit-code sets the exit code of a decision: give --listener and --peer with it");
  });
});

describe("check-policy and YAML syntax errors", () => {
  it("reports one mis-indented line once (the yaml package reports it three times)", async () => {
    const file = await write("one-mistake.yaml", [
      "version: 1",
      "listeners:",
      "  http:",
      "    allow:",
      "    - spiffe://example.org/ns/web/sa/frontend",
      "   - spiffe://example.org/ns/web/sa/admin", // line 6: one space short
    ]);
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`${file}:6:1: YAML syntax: A block sequence may not be used as an implicit map key\n${file}: invalid (1 error)\n`);
  });
});
