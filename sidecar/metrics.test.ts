import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HANDSHAKE_RESULTS, SidecarMetrics } from "./metrics.js";
import { loadPolicy } from "./policy/policy.js";

describe("SidecarMetrics", () => {
  it("starts every handshake result, rejection reason and the active gauge of a listener at 0", async () => {
    const registry = new Registry();
    const metrics = new SidecarMetrics(registry);
    metrics.forListener("http", "inbound");
    const text = await registry.metrics();
    for (const result of HANDSHAKE_RESULTS) {
      expect(text).toContain(`mesh_sidecar_tls_handshakes_total{listener="http",direction="inbound",result="${result}"} 0`);
    }
    expect(text).toContain('mesh_sidecar_connections_rejected_total{listener="http",direction="inbound",reason="max_connections"} 0');
    expect(text).toContain('mesh_sidecar_connections_active{listener="http",direction="inbound"} 0');
    expect(text).toContain('mesh_sidecar_svid_renewals_total{result="invalid"} 0');
    expect(text).toContain('mesh_sidecar_policy_reloads_total{result="error"} 0');
  });

  it("labels authz decisions by the policy entry and starts each entry at 0", async () => {
    const registry = new Registry();
    const metrics = new SidecarMetrics(registry);
    const policy = loadPolicy("version: 1\nlisteners:\n  http:\n    allow: [spiffe://example.org/ns/ops/*]\n    deny: [spiffe://example.org/ns/ops/x]\n", "p.yaml");
    metrics.initAuthz("http", policy.rulesOf("http"));
    const m = metrics.forListener("http", "inbound");
    const allowed = policy.decide("http", "spiffe://example.org/ns/ops/y");
    m.authz(allowed).inc();
    m.authz(policy.decide("http", "spiffe://example.org/ns/ops/z")).inc();
    expect(m.authz(allowed)).toBe(m.authz(allowed));
    const text = await registry.metrics();
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="allow",rule="spiffe://example.org/ns/ops/*"} 2');
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="deny",rule="spiffe://example.org/ns/ops/x"} 0');
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="deny",rule="default"} 0');
    expect(text).not.toContain("ns/ops/y");
  });

  it("starts an audit listener's would-be denials at 0 as audit_deny, and counts them under that value", async () => {
    const registry = new Registry();
    const metrics = new SidecarMetrics(registry);
    const policy = loadPolicy("version: 1\nlisteners:\n  http:\n    mode: audit\n    allow: [spiffe://example.org/ns/ops/*]\n    deny: [spiffe://example.org/ns/ops/x]\n", "p.yaml");
    metrics.initAuthz("http", policy.rulesOf("http"));
    metrics.forListener("http", "inbound").authz(policy.decide("http", "spiffe://example.org/ns/ops/x")).inc();
    const text = await registry.metrics();
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="audit_deny",rule="spiffe://example.org/ns/ops/x"} 1');
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="audit_deny",rule="default"} 0');
    expect(text).toContain('mesh_sidecar_authz_decisions_total{listener="http",decision="allow",rule="spiffe://example.org/ns/ops/*"} 0');
    expect(text).not.toContain('decision="deny"');
  });

  it("uses handshake buckets from 1 ms to 10 s", async () => {
    const registry = new Registry();
    new SidecarMetrics(registry).forListener("out", "outbound").handshakeSeconds.observe(0.002);
    const text = await registry.metrics();
    expect(text).toContain('mesh_sidecar_tls_handshake_duration_seconds_bucket{le="0.001",listener="out",direction="outbound"} 0');
    expect(text).toContain('mesh_sidecar_tls_handshake_duration_seconds_bucket{le="0.0025",listener="out",direction="outbound"} 1');
    expect(text).toContain('mesh_sidecar_tls_handshake_duration_seconds_bucket{le="10",listener="out",direction="outbound"} 1');
  });
});
