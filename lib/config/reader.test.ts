import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { ConfigSource } from "./reader.js";
import { asDuration, asHostPort, asIdPattern, asInteger, asString, asTrustDomain } from "./values.js";
import { configErrorLines } from "../../test/helpers/error-code.js";

function readListeners(text: string, env?: NodeJS.ProcessEnv) {
  return ConfigSource.fromYaml(text, "sidecar.yaml", { env }).read((root) => ({
    trustDomain: root.required("trustDomain", asTrustDomain),
    listeners: root.list(
      "listeners",
      (item) => ({ name: item.required("name", asString), forward: item.required("forward", asHostPort()) }),
      { nonEmpty: true },
    ),
    limits: root.object(
      "limits",
      (f) => ({ handshakeTimeoutMs: f.optional("handshakeTimeout", asDuration({ max: 60_000 }), 10_000) }),
      () => ({ handshakeTimeoutMs: 10_000 }),
    ),
  }));
}


describe("ConfigSource", () => {
  it("reads a valid file into frozen values with defaults applied", () => {
    const cfg = readListeners("trustDomain: example.org\nlisteners:\n  - name: http\n    forward: 127.0.0.1:8080\n");
    expect(cfg.trustDomain.name).toBe("example.org");
    expect(cfg.listeners).toEqual([{ name: "http", forward: { host: "127.0.0.1", port: 8080 } }]);
    expect(cfg.limits.handshakeTimeoutMs).toBe(10_000);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.listeners[0])).toBe(true);
  });

  it("reports every problem at once, each with its key path and line:column", () => {
    const text = [
      "trustDomain: Example.org", // 1: uppercase
      "listeners:",
      "  - name: http",
      '    forward: "8080"', // 4: no host
      "  - forward: 127.0.0.1:99999", // 5: no name, bad port
      "limits:",
      "  handshakeTimeout: 5 minutes", // 7
      "  colour: blue", // 8: unknown key
      "extra: 1", // 9: unknown key
    ].join("\n");
    const lines = configErrorLines(() => readListeners(text));
    expect(lines).toEqual([
      expect.stringMatching(/^sidecar\.yaml:1:14: trustDomain: "Example\.org" is not a trust domain: trust domain characters are limited/),
      'sidecar.yaml:4:14: listeners[0].forward: expected host:port, got "8080"',
      "sidecar.yaml:5:5: listeners[1].name: is required",
      'sidecar.yaml:5:14: listeners[1].forward: expected host:port, got "127.0.0.1:99999"',
      'sidecar.yaml:7:21: limits.handshakeTimeout: expected a duration such as 500ms, 30s, 5m or 1h, got "5 minutes"',
      "sidecar.yaml:8:3: limits.colour: unknown key (expected one of: handshakeTimeout)",
      "sidecar.yaml:9:1: extra: unknown key (expected one of: limits, listeners, trustDomain)",
    ]);
  });

  it("refuses YAML syntax errors and duplicate keys with their position", () => {
    expect(configErrorLines(() => readListeners("trustDomain: a\ntrustDomain: b\n"))[0]).toMatch(/^sidecar\.yaml:2:1: YAML syntax: .*unique/);
    expect(configErrorLines(() => readListeners("listeners: [\n"))[0]).toMatch(/^sidecar\.yaml:\d+:\d+: YAML syntax:/);
  });

  it("reports one syntax mistake once, though the yaml package reports it three times", () => {
    // Line 5 is indented one space less than line 4: one mistake, which yaml reports three times on line 5.
    const text = "trustDomain: a\nlimits:\n  handshakeTimeout:\n    - 1s\n   - 2s\n";
    expect(parseDocument(text).errors.map((e) => e.code)).toEqual(["BLOCK_AS_IMPLICIT_KEY", "MULTILINE_IMPLICIT_KEY", "MISSING_CHAR"]);
    expect(configErrorLines(() => readListeners(text))).toEqual(["sidecar.yaml:5:1: YAML syntax: A block sequence may not be used as an implicit map key"]);
  });

  it("keeps syntax mistakes on different lines apart", () => {
    expect(configErrorLines(() => readListeners("trustDomain: a\ntrustDomain: b\nlisteners:\n\t- name: x\n"))).toEqual([
      "sidecar.yaml:2:1: YAML syntax: Map keys must be unique",
      "sidecar.yaml:4:1: YAML syntax: Tabs are not allowed as indentation",
    ]);
  });

  it("refuses an alias without its anchor with the alias's position, instead of failing unexpectedly", () => {
    expect(configErrorLines(() => readListeners("trustDomain: a\nlisteners: *nowhere\n"))).toEqual([
      expect.stringMatching(/^sidecar\.yaml:2:12: YAML: Unresolved alias .*nowhere$/),
    ]);
  });

  it("refuses a value of the wrong shape where a mapping or list is expected", () => {
    expect(configErrorLines(() => readListeners("trustDomain: example.org\nlisteners: http\nlimits: [1]\n"))).toEqual([
      'sidecar.yaml:2:12: listeners: expected a list, got "http"',
      "sidecar.yaml:3:9: limits: expected a mapping, got a list",
    ]);
    expect(configErrorLines(() => readListeners("- 1\n"))).toEqual(["sidecar.yaml:1:1: expected a mapping, got a list"]);
  });

  it("refuses an empty list when one entry is needed", () => {
    expect(configErrorLines(() => readListeners("trustDomain: example.org\nlisteners: []\n"))).toEqual([
      "sidecar.yaml:2:12: listeners: must not be empty",
    ]);
  });

  it("substitutes environment variables and reports unset ones", () => {
    const text = "trustDomain: ${TD}\nlisteners:\n  - name: ${NAME:-http}\n    forward: 127.0.0.1:${PORT}\n";
    const cfg = readListeners(text, { TD: "example.org", PORT: "8080" });
    expect(cfg.listeners[0]).toEqual({ name: "http", forward: { host: "127.0.0.1", port: 8080 } });
    const lines = configErrorLines(() => readListeners(text, { TD: "example.org" }));
    expect(lines[0]).toBe("sidecar.yaml:4:14: listeners[0].forward: environment variable PORT is not set (set it, or write ${PORT:-default})");
  });

  it("leaves ${...} alone when no environment is given", () => {
    const cfg = ConfigSource.fromYaml("name: ${X}\n", "f.yaml").read((r) => r.required("name", asString));
    expect(cfg).toBe("${X}");
  });
});

describe("value parsers", () => {
  const read = (yaml: string, parse: Parameters<ConfigSource["read"]>[0]) => ConfigSource.fromYaml(yaml, "f.yaml").read(parse);

  it("bounds integers and durations", () => {
    expect(configErrorLines(() => read("n: 0\n", (r) => r.required("n", asInteger({ min: 1, max: 10 }))))).toEqual([
      "f.yaml:1:4: n: expected an integer from 1 to 10, got 0",
    ]);
    expect(configErrorLines(() => read("d: 2m\n", (r) => r.required("d", asDuration({ max: 60_000 }))))).toEqual([
      'f.yaml:1:4: d: must be between 0 ms and 60000 ms, got "2m"',
    ]);
  });

  it("parses SPIFFE ID patterns and names the broken rule", () => {
    expect(String(read("p: spiffe://example.org/ns/*\n", (r) => r.required("p", asIdPattern)))).toBe("spiffe://example.org/ns/*");
    expect(configErrorLines(() => read("p: spiffe://example.org/ns/**/x\n", (r) => r.required("p", asIdPattern)))[0]).toContain(
      '"**" is allowed only as the last path segment',
    );
  });
});
