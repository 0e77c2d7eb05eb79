/**
 * A policy file that fails to parse or validate is refused whole while
 * traffic flows: the previous policy stays in force (the allowed peer sees
 * zero failures, the denied one stays denied even though the broken file
 * would have allowed it), the refusal is logged with line and column, and
 * mesh_sidecar_policy_reloads_total{result="error"} counts it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep, waitFor } from "../helpers/processes.js";
import { plainGet, startTraffic } from "./support/clients.js";
import { policyYaml } from "./support/mesh.js";
import { metricSum } from "./support/metrics.js";
import { BILLING_ID, FRONTEND_ID, startBillingSidecar, startTwoPods, type TwoPods } from "./support/two-pods.js";

/** Would allow billing, if its last entry were not an invalid SPIFFE ID (uppercase trust domain). */
const INVALID_POLICY = `version: 1
listeners:
  orders:
    allow:
      - ${FRONTEND_ID}
      - ${BILLING_ID}
      - spiffe://Example.org/ns/default/sa/typo
`;

/** Would allow billing, if it were valid YAML (the flow sequence is never closed). */
const UNPARSABLE_POLICY = `version: 1
listeners:
  orders:
    allow: [${FRONTEND_ID}, ${BILLING_ID}
`;

describe("a broken policy file", () => {
  let mesh: TwoPods;
  let billingToOrders: string;

  beforeAll(async () => {
    mesh = await startTwoPods({ ordersPolicy: policyYaml({ orders: { allow: [FRONTEND_ID] } }) });
    billingToOrders = await startBillingSidecar(mesh);
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it.each([
    ["fails validation", INVALID_POLICY, "7"],
    ["fails to parse", UNPARSABLE_POLICY, "\\d+"],
  ])("that %s changes nothing, and the refusal names its line", { timeout: 60_000 }, async (_what, text, line) => {
    const errorsBefore = metricSum(await mesh.orders.metrics(), "mesh_sidecar_policy_reloads_total", { result: "error" });
    const logLinesBefore = mesh.orders.proc?.lines.length ?? 0;
    const traffic = startTraffic(() => plainGet(mesh.frontendToOrders), { workers: 2, pauseMs: 20 });
    try {
      mesh.orders.writePolicy(text);
      await waitFor("the orders sidecar to refuse the file", async () => metricSum(await mesh.orders.metrics(), "mesh_sidecar_policy_reloads_total", { result: "error" }) > errorsBefore, {
        timeoutMs: 15_000,
      });
      await sleep(500);
      await expect(plainGet(billingToOrders, { path: "/billing" })).rejects.toThrow();
      expect(mesh.backend.requests.filter((r) => r.path === "/billing")).toEqual([]);
    } finally {
      const report = await traffic.stop();
      expect(report.failures, report.failures.join("\n")).toEqual([]);
      expect(report.ok).toBeGreaterThan(10);
    }
    const newLines = (mesh.orders.proc?.lines ?? []).slice(logLinesBefore).map((l) => l.text);
    expect(newLines.some((l) => l.includes(mesh.orders.policyFile) && new RegExp(`:${line}:\\d+`).test(l)), newLines.join("\n")).toBe(true);
  });
});
