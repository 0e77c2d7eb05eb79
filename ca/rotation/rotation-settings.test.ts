/** What `mesh-ca rotate` reads from a config, and the new `bundle.refreshHint` key as `serve` reads it. */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { CA_DEFAULTS, loadCaConfig, loadRotationSettings } from "../config.js";

const base = "trustDomain: example.org\nattestation:\n  joinTokens:\n    storeFile: tokens.json\n";

describe("bundle.refreshHint", () => {
  it("defaults to 5m and takes whole seconds from 1s to 24h", () => {
    expect(loadCaConfig(base, "ca.yaml").bundle.refreshHintMs).toBe(CA_DEFAULTS.refreshHintMs);
    expect(CA_DEFAULTS.refreshHintMs).toBe(300_000);
    expect(loadCaConfig(`${base}bundle:\n  refreshHint: 90s\n`, "ca.yaml").bundle.refreshHintMs).toBe(90_000);
    for (const bad of ["500ms", "1500ms", "25h", "soon"]) {
      expect(() => loadCaConfig(`${base}bundle:\n  refreshHint: ${bad}\n`, "ca.yaml"), bad).toThrow(/bundle\.refreshHint/);
    }
    expect(() => loadCaConfig(`${base}bundle:\n  refresh: 1m\n`, "ca.yaml")).toThrow(/bundle\.refresh: unknown key \(expected one of: refreshHint\)/);
  });
});

describe("loadRotationSettings", () => {
  it("reads the cluster's ca.yaml on a machine outside the cluster: in-pod paths and variables are left alone", async () => {
    const text = await readFile(new URL("../../deploy/kubernetes/base/ca.yaml", import.meta.url), "utf8");
    expect(() => loadCaConfig(text, "ca.yaml", {})).toThrow(ConfigError);
    const s = loadRotationSettings(text, "ca.yaml");
    expect(s.trustDomain.name).toBe("example.org");
    expect(s.svid.maxTtlMs).toBe(24 * 3600_000);
    expect(s.svid.backdateMs).toBe(30_000);
    expect(s.bundle.refreshHintMs).toBe(300_000);
  });

  it("still checks the keys it reads, with their line", () => {
    const err = (() => {
      try {
        loadRotationSettings("trustDomain: example.org\nsvid:\n  maxTtl: forever\n", "t.yaml");
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/t\.yaml:3:11: svid\.maxTtl: expected a duration/);
    expect(() => loadRotationSettings("svid: {}\n", "t.yaml")).toThrow(/trustDomain: is required/);
  });
});
