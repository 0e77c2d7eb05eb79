/**
 * `promtool check metrics` (Prometheus's own linter, from Debian's
 * prometheus package) accepts the /metrics output of mesh-ca and of both
 * sidecars, after traffic has created the labelled series (an allowed and a
 * refused peer).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../helpers/processes.js";
import { mtlsGet, plainGet } from "../e2e/support/clients.js";
import { workloadId } from "../e2e/support/mesh.js";
import { startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { requirePromtool } from "./support/tools.js";

describe("promtool check metrics", () => {
  let mesh: TwoPods;
  let promtool: string;

  beforeAll(async () => {
    promtool = requirePromtool();
    mesh = await startTwoPods();
    expect((await plainGet(mesh.frontendToOrders)).status).toBe(200);
    const outsider = await mesh.ca.issue(workloadId("outsider"), join(mesh.work, "outsider"));
    await expect(mtlsGet(mesh.ordersInbound, outsider)).rejects.toThrow();
  }, 300_000);

  afterAll(async () => {
    await mesh?.close();
  });

  it.each(["mesh-ca", "orders sidecar", "frontend sidecar"])("accepts the /metrics of %s", async (which) => {
    const text = which === "mesh-ca" ? await mesh.caServer.metrics() : which === "orders sidecar" ? await mesh.orders.metrics() : await mesh.frontend.metrics();
    expect(text).toMatch(/^mesh_/m);
    const r = await run({ command: promtool, args: ["check", "metrics"], stdin: text });
    expect(r.output).toBe("");
    expect(r.code).toBe(0);
  });
});
