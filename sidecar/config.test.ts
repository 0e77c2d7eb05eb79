import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../lib/config/errors.js";
import { loadSidecarConfig, SIDECAR_DEFAULTS } from "./config.js";

const EXAMPLE = "docs/examples/sidecar.yaml";

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadSidecarConfig(text, "/etc/mesh/sidecar.yaml", env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const MINIMAL = `trustDomain: example.org
ca:
  url: https://mesh-ca:8443
  bundleFile: bundle.pem
  tokenFile: token
`;

describe("loadSidecarConfig", () => {
  it("loads the documented example with every key, resolving paths against the file's directory", () => {
    const config = loadSidecarConfig(readFileSync(EXAMPLE, "utf8"), EXAMPLE, { POD_NAMESPACE: "shop", SERVICE_ACCOUNT: "orders" });
    expect(config.trustDomain.name).toBe("example.org");
    expect(config.ca.url.href).toBe("https://mesh-ca.mesh-system.svc:8443/");
    expect(config.ca.bundleFile).toBe("/etc/mesh/bundle.pem");
    expect(config.ca.expectedId?.toString()).toBe("spiffe://example.org/ns/shop/sa/orders");
    expect(config.ca.ttlMs).toBe(3_600_000);
    expect(config.policyFile).toBe(resolve("docs/examples/policy.yaml"));
    expect(config.inbound.map((l) => l.name)).toEqual(["http", "metrics"]);
    expect(config.inbound.map((l) => l.proxyProtocol)).toEqual(["v2", undefined]);
    expect(config.outbound[0]).toMatchObject({ name: "payments", listen: { host: "127.0.0.1", port: 15001 }, upstream: { host: "payments.billing.svc", port: 15006 } });
    expect(config.outbound[0]?.expectedPeer.source).toBe("spiffe://example.org/ns/billing/sa/payments");
    expect(config.limits).toEqual({ handshakeTimeoutMs: 10_000, idleTimeoutMs: 3_600_000, maxConnections: 10_000, drainGraceMs: 25_000 });
    expect(config.warnings).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.inbound[0])).toBe(true);
  });

  it("applies the documented defaults to a minimal file", () => {
    const config = loadSidecarConfig(MINIMAL, "/etc/mesh/sidecar.yaml", {});
    expect(config.ca.tokenFile).toBe("/etc/mesh/token");
    expect(config.ca.bundleRefreshMs).toBe(SIDECAR_DEFAULTS.bundleRefreshMs);
    expect(config.admin).toEqual({ host: "127.0.0.1", port: 15020 });
    expect(config.tls).toEqual({ minVersion: "TLSv1.3", sessionResumption: true, groups: ["X25519", "P-256"] });
    expect(config.renewal).toEqual({ fraction: 0.5, jitter: 0.1, backoffBaseMs: 1_000, backoffCapMs: 30_000 });
    expect(config.log.level).toBe("info");
    expect(config.warnings).toEqual(["no inbound or outbound listener is configured"]);
  });

  it("reports every problem at once with its key path and line:col", () => {
    const text = [
      "trustDomain: example.org",
      "ca:",
      "  url: http://mesh-ca:8443", // 3
      "  tokenFile: token",
      "  joinToken: meshjt_secret", // 5: both credentials
      "  ttl: 48h", // 6
      "inbound:",
      "  - name: http",
      "    listen: 0.0.0.0:15006",
      "    forward: 8080", // 10
      "outbound:",
      "  - name: http", // 12: duplicate name
      "    listen: 127.0.0.1:15001",
      "    upstream: orders:15006",
      "    expectedPeer: spiffe://example.org/ns/*/sa/**/x", // 15
      "renewal:",
      "  backoffBase: 10s",
      "  backoffCap: 1s", // 18
      "  fraction: 1.5", // 19
      "tls:",
      "  minVersion: TLSv1.1", // 21
      "colour: blue", // 22
    ].join("\n");
    const lines = errorsOf(text);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/sidecar\.yaml:3:8: ca\.url: expected an https:\/\/ URL/),
        expect.stringMatching(/sidecar\.yaml:3:3: ca\.bundleFile: is required$/),
        expect.stringMatching(/sidecar\.yaml:5:14: ca\.joinToken: set exactly one of ca\.tokenFile/),
        expect.stringMatching(/sidecar\.yaml:6:8: ca\.ttl: must be between/),
        expect.stringMatching(/sidecar\.yaml:10:14: inbound\[0\]\.forward: expected host:port, got 8080$/),
        expect.stringMatching(/sidecar\.yaml:12:11: outbound\[0\]\.name: listener name "http" is already used by inbound\[0\]/),
        expect.stringMatching(/sidecar\.yaml:15:19: outbound\[0\]\.expectedPeer: .*"\*\*" is allowed only as the last path segment/),
        expect.stringMatching(/policyFile: is required when there is an inbound listener/),
        expect.stringMatching(/sidecar\.yaml:18:15: renewal\.backoffCap: must not be less than renewal\.backoffBase/),
        expect.stringMatching(/sidecar\.yaml:19:13: renewal\.fraction: expected a number in \(0, 1\)/),
        expect.stringMatching(/sidecar\.yaml:21:15: tls\.minVersion: expected one of TLSv1\.2, TLSv1\.3/),
        expect.stringMatching(/sidecar\.yaml:22:1: colour: unknown key/),
      ]),
    );
    expect(lines).toHaveLength(12);
  });

  it("never echoes a join token in an error", () => {
    const lines = errorsOf(`${MINIMAL.replace("  tokenFile: token\n", "")}  joinToken: [meshjt_supersecret]\n`);
    expect(lines.join("\n")).not.toContain("supersecret");
  });

  it("fills ${NAME} from the environment and reports an unset one", () => {
    const text = `${MINIMAL.replace("  tokenFile: token\n", "  joinToken: ${MESH_JOIN_TOKEN}\n")}`;
    expect(loadSidecarConfig(text, "s.yaml", { MESH_JOIN_TOKEN: "meshjt_abc" }).ca.joinToken).toBe("meshjt_abc");
    expect(errorsOf(text)).toEqual(expect.arrayContaining([expect.stringContaining("environment variable MESH_JOIN_TOKEN is not set")]));
  });

  it("treats an empty ${VAR:-} join token as absent, so exactly one credential is still required", () => {
    const text = `${MINIMAL.replace("  tokenFile: token\n", "  joinToken: ${MESH_JOIN_TOKEN:-}\n")}`;
    expect(errorsOf(text)).toEqual([expect.stringContaining("set exactly one of ca.tokenFile (Kubernetes projected token) and ca.joinToken")]);
  });

  it("takes tls.sessionResumption as a boolean only, naming the key and place otherwise", () => {
    expect(loadSidecarConfig(`${MINIMAL}tls:\n  sessionResumption: false\n`, "s.yaml", {}).tls.sessionResumption).toBe(false);
    expect(errorsOf(`${MINIMAL}tls:\n  sessionResumption: "yes"\n`)).toEqual([
      expect.stringMatching(/sidecar\.yaml:7:22: tls\.sessionResumption: expected true or false, got "yes"/),
    ]);
  });

  it("takes inbound[].proxyProtocol: v2 only, off by default, and refuses any other value with its line:col", () => {
    const listener = (extra: string): string => `${MINIMAL}inbound:\n  - name: http\n    listen: 0.0.0.0:15006\n    forward: 127.0.0.1:8080\n${extra}policyFile: p.yaml\n`;
    expect(loadSidecarConfig(listener(""), "s.yaml", {}).inbound[0]?.proxyProtocol).toBeUndefined();
    expect(loadSidecarConfig(listener("    proxyProtocol: v2\n"), "s.yaml", {}).inbound[0]?.proxyProtocol).toBe("v2");
    expect(errorsOf(listener("    proxyProtocol: v1\n"))).toEqual([
      expect.stringMatching(/sidecar\.yaml:10:20: inbound\[0\]\.proxyProtocol: the sidecar sends PROXY protocol v2 only .*write "v2" or remove the key, got "v1"$/),
    ]);
    expect(errorsOf(listener("    proxyProtocol: 2\n"))).toEqual([expect.stringMatching(/sidecar\.yaml:10:20: inbound\[0\]\.proxyProtocol: .*got 2$/)]);
    expect(errorsOf(listener("    proxyProtocol: true\n"))).toEqual([expect.stringMatching(/sidecar\.yaml:10:20: inbound\[0\]\.proxyProtocol: .*got true$/)]);
  });

  it("takes tls.groups as a list of elliptic-curve groups and refuses finite-field ones where they stand", () => {
    expect(loadSidecarConfig(`${MINIMAL}tls:\n  groups: [P-384, X25519]\n`, "s.yaml", {}).tls.groups).toEqual(["P-384", "X25519"]);
    expect(errorsOf(`${MINIMAL}tls:\n  minVersion: TLSv1.2\n  groups:\n    - X25519\n    - ffdhe2048\n`)).toEqual([
      expect.stringMatching(/^\/etc\/mesh\/sidecar\.yaml:10:7: tls\.groups\[1\]: ffdhe2048 is a finite-field group: refused, .*; use X25519, P-256, P-384 or X25519MLKEM768/),
    ]);
    expect(errorsOf(`${MINIMAL}tls:\n  groups: [secp521r1]\n`)).toEqual([
      expect.stringMatching(/sidecar\.yaml:7:12: tls\.groups\[0\]: unknown key-exchange group "secp521r1"; expected X25519, P-256, P-384 or X25519MLKEM768/),
    ]);
  });

  it("binds an outbound listener given only a port to loopback", () => {
    const text = `${MINIMAL}outbound:\n  - name: out\n    listen: 15001\n    upstream: orders:15006\n    expectedPeer: spiffe://example.org/ns/shop/sa/orders\n`;
    const config = loadSidecarConfig(text, "s.yaml", {});
    expect(config.outbound[0]?.listen).toEqual({ host: "127.0.0.1", port: 15001 });
    expect(config.warnings).toEqual([]);
  });

  it("warns about an outbound listener that is not on loopback", () => {
    const text = `${MINIMAL}outbound:\n  - name: out\n    listen: 0.0.0.0:15001\n    upstream: orders:15006\n    expectedPeer: spiffe://example.org/ns/shop/sa/orders\n`;
    expect(loadSidecarConfig(text, "s.yaml", {}).warnings).toEqual([expect.stringContaining("outbound[0] (out) listens on 0.0.0.0, not loopback")]);
  });
});
