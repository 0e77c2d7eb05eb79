/**
 * The full path on loopback with real processes: the frontend app's plain
 * request goes to its outbound sidecar, over mutual TLS to the orders
 * sidecar, and plaintext to the orders app; the answer comes back the same
 * way. And the denied path: a pod whose identity the policy does not list
 * gets its connection closed, and nothing reaches the orders app.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plainGet } from "./support/clients.js";
import { Sidecar, workloadId } from "./support/mesh.js";
import { metricSum } from "./support/metrics.js";
import { ORDERS_ID, startTwoPods, type TwoPods } from "./support/two-pods.js";

describe("app to app through two sidecars", () => {
  let mesh: TwoPods;
  let billing: Sidecar;
  let billingToOrders: string;

  beforeAll(async () => {
    mesh = await startTwoPods();
    const [out, admin] = [await mesh.spare(), await mesh.spare()];
    billingToOrders = `127.0.0.1:${out}`;
    billing = new Sidecar(mesh.group, {
      name: "billing-sidecar",
      dir: join(mesh.work, "billing"),
      caUrl: mesh.caServer.apiUrl,
      bundleFile: mesh.ca.bundleFile,
      joinToken: await mesh.ca.joinToken(workloadId("billing")),
      outbound: [{ name: "orders", listen: billingToOrders, upstream: mesh.ordersInbound, expectedPeer: ORDERS_ID }],
      admin: `127.0.0.1:${admin}`,
    });
    await billing.start();
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("carries a request from the frontend app to the orders app and the answer back", async () => {
    const before = mesh.backend.requests.length;
    const answer = await plainGet(mesh.frontendToOrders, { path: "/orders/42" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ service: "orders", path: "/orders/42" });
    expect(mesh.backend.requests.slice(before).map((r) => r.path)).toEqual(["/orders/42"]);
  });

  it("counts the accepted handshake and the allow decision on both sidecars' /metrics", async () => {
    await plainGet(mesh.frontendToOrders);
    const orders = await mesh.orders.metrics();
    expect(metricSum(orders, "mesh_sidecar_tls_handshakes_total", { listener: "orders", direction: "inbound", result: "ok" })).toBeGreaterThan(0);
    expect(metricSum(orders, "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "allow", rule: workloadId("frontend") })).toBeGreaterThan(0);
    const frontend = await mesh.frontend.metrics();
    expect(metricSum(frontend, "mesh_sidecar_tls_handshakes_total", { listener: "orders", direction: "outbound", result: "ok" })).toBeGreaterThan(0);
  });

  it("refuses a pod the policy does not list, and nothing reaches the orders app", async () => {
    const connectionsBefore = mesh.backend.connections;
    const requestsBefore = mesh.backend.requests.length;
    await expect(plainGet(billingToOrders, { path: "/orders/1" })).rejects.toThrow();
    expect(mesh.backend.connections).toBe(connectionsBefore);
    expect(mesh.backend.requests.length).toBe(requestsBefore);
    const orders = await mesh.orders.metrics();
    expect(metricSum(orders, "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "deny", rule: "default" })).toBeGreaterThan(0);
  });

  it("logs the refusal with the peer's SPIFFE ID and the listener", () => {
    const refusal = mesh.orders.proc?.jsonLines().find((l) => JSON.stringify(l).includes(workloadId("billing")));
    expect(refusal, mesh.orders.proc?.tail()).toBeDefined();
    expect(JSON.stringify(refusal)).toContain("orders");
  });
});
