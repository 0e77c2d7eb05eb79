/**
 * The programs' real `/metrics` text: each program's metrics registered on
 * a fresh registry the way the program does it, served by the shared admin
 * server, fetched over HTTP on loopback.
 */
import { Registry } from "prom-client";
import { startAdminServer } from "../../lib/admin/server.js";
import { createCaMetrics } from "../../ca/metrics.js";
import { SidecarMetrics } from "../../sidecar/metrics.js";
import { parseExposition, type ExposedMetric } from "./exposition.js";

/** GET /metrics from an admin server exposing `registry`. */
export async function scrape(registry: Registry): Promise<string> {
  const admin = await startAdminServer({ listen: { host: "127.0.0.1", port: 0 }, registry, readiness: () => ({ ready: true }) });
  try {
    const res = await fetch(`http://127.0.0.1:${admin.address.port}/metrics`);
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    return await res.text();
  } finally {
    await admin.close();
  }
}

/**
 * mesh-sidecar's metrics after start-up with one inbound and one outbound
 * listener and one handshake on each: the families it registers and the
 * label values it zero-initialises (every handshake result, renewal and
 * reload result, allow/deny decisions, and audit_deny on a listener in
 * audit mode). Histograms show their labels only
 * once observed, hence the handshakes.
 */
export async function sidecarMetrics(): Promise<Map<string, ExposedMetric>> {
  const registry = new Registry();
  const metrics = new SidecarMetrics(registry);
  metrics.forListener("http", "inbound").handshakeSeconds.observe(0.004);
  metrics.forListener("orders", "outbound").handshakeSeconds.observe(0.004);
  metrics.initAuthz("http", { allow: ["spiffe://example.org/ns/shop/sa/frontend"], deny: ["spiffe://example.org/ns/shop/sa/legacy"] });
  metrics.initAuthz("grpc", { mode: "audit", allow: ["spiffe://example.org/ns/shop/sa/frontend"], deny: [] });
  return parseExposition(await scrape(registry));
}

/** mesh-ca's metrics after one signature: every method x result pair (zero-initialised), plus its process metrics. */
export async function caMetrics(): Promise<Map<string, ExposedMetric>> {
  const registry = new Registry();
  createCaMetrics(registry).signDuration.observe(0.0001);
  return parseExposition(await scrape(registry));
}
