import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { loadPolicy } from "./policy.js";

const EXAMPLE = readFileSync("docs/examples/policy.yaml", "utf8");

function errorsOf(text: string): string[] {
  try {
    loadPolicy(text, "policy.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("policy decisions", () => {
  const policy = loadPolicy(EXAMPLE, "policy.yaml");
  const decide = (listener: string, id: string) => policy.decide(listener, SpiffeId.parse(id));

  it("allows an exact entry and names it", () => {
    expect(decide("http", "spiffe://example.org/ns/web/sa/frontend")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/web/sa/frontend" });
  });

  it("matches `*` to exactly one segment", () => {
    expect(decide("http", "spiffe://example.org/ns/ops/debugger")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/ops/*" });
    expect(decide("http", "spiffe://example.org/ns/ops/sa/debugger")).toEqual({ decision: "deny", rule: "default" });
  });

  it("matches `**` to one or more segments, never to its own prefix", () => {
    expect(decide("http", "spiffe://example.org/ns/batch/sa/nightly")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/batch/**" });
    expect(decide("http", "spiffe://example.org/ns/batch")).toEqual({ decision: "deny", rule: "default" });
  });

  it("lets deny beat allow", () => {
    const p = loadPolicy("version: 1\nlisteners:\n  http:\n    allow: [spiffe://example.org/ns/web/**]\n    deny: [spiffe://example.org/ns/web/sa/legacy]\n", "p.yaml");
    expect(p.decide("http", "spiffe://example.org/ns/web/sa/legacy")).toEqual({ decision: "deny", rule: "spiffe://example.org/ns/web/sa/legacy" });
    expect(p.decide("http", "spiffe://example.org/ns/web/sa/other")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/web/**" });
  });

  it("denies by default, and denies everyone on a listener the policy does not name", () => {
    expect(decide("http", "spiffe://example.org/ns/shop/sa/orders")).toEqual({ decision: "deny", rule: "default" });
    expect(decide("grpc", "spiffe://example.org/ns/web/sa/frontend")).toEqual({ decision: "deny", rule: "default" });
    expect(policy.hasListener("grpc")).toBe(false);
  });

  it("never matches across trust domains", () => {
    expect(decide("http", "spiffe://other.org/ns/web/sa/frontend")).toEqual({ decision: "deny", rule: "default" });
  });

  it("keeps listeners apart", () => {
    expect(decide("metrics", "spiffe://example.org/ns/web/sa/frontend").decision).toBe("deny");
    expect(decide("metrics", "spiffe://example.org/ns/monitoring/sa/prometheus").decision).toBe("allow");
  });

  it("returns the same frozen decision object for the same entry (no allocation per connection)", () => {
    const a = decide("http", "spiffe://example.org/ns/ops/a");
    const b = decide("http", "spiffe://example.org/ns/ops/b");
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("accepts the peer as a string and parses it strictly", () => {
    expect(policy.decide("http", "spiffe://example.org/ns/web/sa/frontend").decision).toBe("allow");
    expect(() => policy.decide("http", "spiffe://Example.org/ns/web/sa/frontend")).toThrow(/trust domain characters/);
  });

  it("decides among 20,000 exact entries plus wildcards", () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => `      - spiffe://example.org/ns/n${i}/sa/s${i}`).join("\n");
    const big = loadPolicy(`version: 1\nlisteners:\n  http:\n    allow:\n${entries}\n      - spiffe://example.org/ns/ops/*\n`, "big.yaml");
    expect(big.decide("http", "spiffe://example.org/ns/n19999/sa/s19999")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/n19999/sa/s19999" });
    expect(big.decide("http", "spiffe://example.org/ns/n1/sa/s2")).toEqual({ decision: "deny", rule: "default" });
    expect(big.decide("http", "spiffe://example.org/ns/ops/x").rule).toBe("spiffe://example.org/ns/ops/*");
  });

  it("lists each listener's entries as written, without duplicates", () => {
    expect(policy.listeners).toEqual(["http", "metrics"]);
    expect(policy.rulesOf("http").deny).toEqual(["spiffe://example.org/ns/web/sa/legacy"]);
    expect(policy.rulesOf("http").mode).toBe("enforce");
    expect(policy.rulesOf("absent")).toEqual({ mode: "enforce", allow: [], deny: [] });
  });
});

describe("audit mode", () => {
  const text = [
    "version: 1",
    "listeners:",
    "  http:",
    "    mode: audit",
    "    allow:",
    "      - spiffe://example.org/ns/web/**",
    "    deny:",
    "      - spiffe://example.org/ns/web/sa/legacy",
    "  grpc:",
    "    mode: enforce",
    "    allow:",
    "      - spiffe://example.org/ns/web/**",
    "  plain:",
    "    allow: []",
  ].join("\n");
  const policy = loadPolicy(text, "policy.yaml");

  it("turns every deny of an audit listener into audit_deny with the entry that would have denied", () => {
    expect(policy.decide("http", "spiffe://example.org/ns/web/sa/legacy")).toEqual({ decision: "audit_deny", rule: "spiffe://example.org/ns/web/sa/legacy" });
    expect(policy.decide("http", "spiffe://example.org/ns/other/sa/x")).toEqual({ decision: "audit_deny", rule: "default" });
    expect(policy.decide("http", "spiffe://example.org/ns/web/sa/frontend")).toEqual({ decision: "allow", rule: "spiffe://example.org/ns/web/**" });
  });

  it("keeps enforce, said or not, and a listener the policy does not name, refusing", () => {
    expect(policy.decide("grpc", "spiffe://example.org/ns/other/sa/x")).toEqual({ decision: "deny", rule: "default" });
    expect(policy.decide("plain", "spiffe://example.org/ns/other/sa/x")).toEqual({ decision: "deny", rule: "default" });
    expect(policy.decide("absent", "spiffe://example.org/ns/other/sa/x")).toEqual({ decision: "deny", rule: "default" });
    expect([policy.rulesOf("http").mode, policy.rulesOf("grpc").mode, policy.rulesOf("plain").mode]).toEqual(["audit", "enforce", "enforce"]);
  });

  it("returns the same frozen audit_deny object every time (no allocation per connection)", () => {
    const a = policy.decide("http", "spiffe://example.org/ns/a/sa/b");
    expect(policy.decide("http", "spiffe://example.org/ns/c/sa/d")).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("refuses an unknown mode with its line:col", () => {
    expect(errorsOf("version: 1\nlisteners:\n  http:\n    mode: dry-run\n    allow: []\n")).toEqual([
      'policy.yaml:4:11: listeners.http.mode: expected one of enforce, audit, got "dry-run"',
    ]);
    expect(errorsOf("version: 1\nlisteners:\n  http:\n    mode: [audit]\n")).toEqual(["policy.yaml:4:11: listeners.http.mode: expected one of enforce, audit, got a list"]);
  });
});

describe("policy validation", () => {
  it("reports every problem with line:col", () => {
    const text = [
      "version: 1",
      "listeners:",
      "  Http:", // 3: bad listener name
      "    allow:",
      "      - spiffe://example.org/ns/*x", // 5
      "  grpc:",
      "    allow: spiffe://example.org/a", // 7: not a list
      "    deny:",
      "      - https://example.org/a", // 9
    ].join("\n");
    expect(errorsOf(text)).toEqual([
      expect.stringMatching(/^policy\.yaml:4:5: listeners\.Http: listener name "Http" must be 1 to 63 characters/),
      expect.stringMatching(/^policy\.yaml:5:9: listeners\.Http\.allow\[0\]: .*a wildcard must be a whole segment/),
      'policy.yaml:7:12: listeners.grpc.allow: expected a list, got "spiffe://example.org/a"',
      expect.stringMatching(/^policy\.yaml:9:9: listeners\.grpc\.deny\[0\]: .*scheme is missing or invalid/),
    ]);
  });

  it("requires version 1 and a listeners mapping", () => {
    expect(errorsOf("listeners: {}\n")).toEqual(["policy.yaml:1:1: version: is required"]);
    expect(errorsOf("version: 2\nlisteners: {}\n")).toEqual(['policy.yaml:1:10: version: this sidecar understands policy version 1, got 2']);
    expect(errorsOf("version: 1\n")).toEqual([expect.stringMatching(/listeners: is required/)]);
  });

  it("refuses an empty file and a YAML syntax error", () => {
    expect(errorsOf("")).toEqual([expect.stringMatching(/expected a mapping, got nothing/)]);
    expect(errorsOf("version: 1\nlisteners:\n  http: [\n")).toEqual([expect.stringMatching(/^policy\.yaml:\d+:\d+: YAML syntax/)]);
  });

  it("accepts a listener with no entries (it accepts no one)", () => {
    const p = loadPolicy("version: 1\nlisteners:\n  http: {}\n", "p.yaml");
    expect(p.hasListener("http")).toBe(true);
    expect(p.decide("http", "spiffe://example.org/a").decision).toBe("deny");
  });
});
