/**
 * The sidecar's documentation stays true: every config key the loader
 * accepts, every metric it registers and every error code appears in
 * docs/sidecar.md; the example files and the block in configuration.md load
 * with the real loaders.
 */
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { loadSidecarConfig } from "../../sidecar/config.js";
import { SidecarErrorCode } from "../../sidecar/errors.js";
import { SidecarMetrics } from "../../sidecar/metrics.js";
import { loadPolicy } from "../../sidecar/policy/policy.js";

const DOC = readFileSync("docs/sidecar.md", "utf8");
const EXAMPLE = readFileSync("docs/examples/sidecar.yaml", "utf8");

/** Every key path the loader accepts, read from its "unknown key (expected one of: ...)" messages. */
function acceptedKeys(): string[] {
  const probe = [
    "zzz: 1",
    "ca: {zzz: 1}",
    "inbound: [{zzz: 1}]",
    "outbound: [{zzz: 1}]",
    "limits: {zzz: 1}",
    "tls: {zzz: 1}",
    "renewal: {zzz: 1}",
    "log: {zzz: 1}",
  ].join("\n");
  try {
    loadSidecarConfig(probe, "probe.yaml", {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const keys: string[] = [];
    for (const issue of err.issues) {
      const m = /unknown key \(expected one of: (.*)\)/.exec(issue.message);
      if (!m?.[1]) continue;
      const prefix = issue.path.replace(/\.?zzz$/, "").replace(/\[0\]/, "[]");
      for (const k of m[1].split(", ")) keys.push(prefix ? `${prefix}.${k}` : k);
    }
    return keys;
  }
  throw new Error("the probe should have failed");
}

describe("docs/sidecar.md", () => {
  const keys = acceptedKeys();
  const leafKeys = keys.filter((k) => !["ca", "inbound", "outbound", "limits", "tls", "renewal", "log"].includes(k));

  it("documents every config key in the reference table", () => {
    expect(leafKeys.length).toBeGreaterThan(25);
    for (const key of leafKeys) expect(DOC, key).toContain(`| \`${key}\` |`);
  });

  it("has every config key in the example file", () => {
    for (const key of leafKeys) {
      const last = key.split(".").at(-1) as string;
      expect(EXAMPLE, key).toMatch(new RegExp(`^\\s*(#\\s*)?(- )?${last}:`, "m"));
    }
  });

  it("documents every metric the sidecar registers", async () => {
    const registry = new Registry();
    new SidecarMetrics(registry);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBe(11);
    for (const name of names) expect(DOC, name).toContain(`\`${name}\``);
  });

  it("documents every error code", () => {
    for (const code of Object.values(SidecarErrorCode)) expect(DOC, code).toContain(`\`${code}\``);
  });
});

describe("example and reference files", () => {
  it("loads the example config and policy with the real loaders", () => {
    const config = loadSidecarConfig(EXAMPLE, "docs/examples/sidecar.yaml", {});
    const policy = loadPolicy(readFileSync("docs/examples/policy.yaml", "utf8"), "docs/examples/policy.yaml");
    for (const listener of config.inbound) expect(policy.hasListener(listener.name), listener.name).toBe(true);
  });

  it("loads the mesh-sidecar block of docs/configuration.md", () => {
    const text = readFileSync("docs/configuration.md", "utf8");
    const block = /## mesh-sidecar[\s\S]*?```yaml\n([\s\S]*?)```/.exec(text)?.[1];
    expect(block).toBeDefined();
    const config = loadSidecarConfig(block as string, "docs/sidecar.yaml", {});
    expect(config.inbound[0]?.name).toBe("http");
  });
});
