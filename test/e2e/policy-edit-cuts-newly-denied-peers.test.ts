/**
 * The policy is edited while traffic flows: a peer that the new policy
 * denies loses its established connection and cannot open a new one, while
 * the peer that stays allowed sees zero failed requests, on new connections
 * and on a long-lived one. No sidecar restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { plainGet, startTraffic } from "./support/clients.js";
import { HeldConnection } from "./support/held-connection.js";
import { policyYaml } from "./support/mesh.js";
import { metricSum } from "./support/metrics.js";
import { BILLING_ID, FRONTEND_ID, startBillingSidecar, startTwoPods, type TwoPods } from "./support/two-pods.js";

describe("policy edited while traffic flows", () => {
  let mesh: TwoPods;
  let billingToOrders: string;

  beforeAll(async () => {
    mesh = await startTwoPods({ ordersPolicy: policyYaml({ orders: { allow: [FRONTEND_ID, BILLING_ID] } }) });
    billingToOrders = await startBillingSidecar(mesh);
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("cuts the newly denied peer and leaves the allowed one untouched", { timeout: 60_000 }, async () => {
    const frontendHeld = await HeldConnection.open(mesh.frontendToOrders);
    const billingHeld = await HeldConnection.open(billingToOrders);
    expect(await frontendHeld.get("/frontend/held")).toBe(200);
    expect(await billingHeld.get("/billing/held")).toBe(200);
    const reloadsBefore = metricSum(await mesh.orders.metrics(), "mesh_sidecar_policy_reloads_total", { result: "ok" });

    const traffic = startTraffic(() => plainGet(mesh.frontendToOrders, { path: "/frontend/new" }), { workers: 2, pauseMs: 20 });
    const heldTraffic = startTraffic(async () => ({ status: await frontendHeld.get("/frontend/held"), body: "" }), { workers: 1, pauseMs: 20 });
    try {
      mesh.orders.writePolicy(policyYaml({ orders: { allow: [FRONTEND_ID] } }));
      await waitFor("the orders sidecar to reload its policy", async () => metricSum(await mesh.orders.metrics(), "mesh_sidecar_policy_reloads_total", { result: "ok" }) > reloadsBefore, {
        timeoutMs: 15_000,
      });
      await Promise.race([billingHeld.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("billing's established connection was not closed within 10 s of the reload")), 10_000))]);
      const billingRequestsBefore = mesh.backend.requests.filter((r) => r.path.startsWith("/billing")).length;
      await expect(plainGet(billingToOrders, { path: "/billing/new" })).rejects.toThrow();
      expect(mesh.backend.requests.filter((r) => r.path.startsWith("/billing")).length).toBe(billingRequestsBefore);
      // Keep the allowed traffic running a moment past the cut.
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      const reports = [await traffic.stop(), await heldTraffic.stop()];
      for (const r of reports) {
        expect(r.failures, r.failures.join("\n")).toEqual([]);
        expect(r.ok).toBeGreaterThan(10);
      }
    }
    expect(frontendHeld.isOpen).toBe(true);
    expect(await frontendHeld.get("/frontend/held")).toBe(200);
    frontendHeld.close();
    const orders = await mesh.orders.metrics();
    expect(metricSum(orders, "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "deny", rule: "default" })).toBeGreaterThan(0);
  });
});
