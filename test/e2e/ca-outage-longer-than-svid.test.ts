/**
 * mesh-ca goes away for longer than an SVID lives (10 s here). The sidecars
 * keep serving with the SVID they hold until it expires, then report not
 * ready; when mesh-ca comes back they get new SVIDs on their own (same
 * processes, no restart) and traffic flows again. The recovery time is
 * printed in the test log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep, waitFor } from "../helpers/processes.js";
import { plainGet, startTraffic } from "./support/clients.js";
import { metricSum } from "./support/metrics.js";
import { startTwoPods, type TwoPods } from "./support/two-pods.js";

async function svidExpiryMs(mesh: TwoPods): Promise<number> {
  const [o, f] = await Promise.all([mesh.orders.metrics(), mesh.frontend.metrics()]);
  return Math.min(metricSum(o, "mesh_sidecar_svid_expiry_timestamp_seconds"), metricSum(f, "mesh_sidecar_svid_expiry_timestamp_seconds")) * 1000;
}

const LIFETIME_MS = 10_000;

describe("mesh-ca down for longer than the SVID lifetime", () => {
  let mesh: TwoPods;

  beforeAll(async () => {
    mesh = await startTwoPods({
      svid: { defaultTtl: "10s", maxTtl: "10s", backdate: "0s" },
      sidecar: { renewal: { backoffBase: "200ms", backoffCap: "1s" } },
    });
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("serves until the SVID expires, turns not ready, and recovers by itself when mesh-ca returns", { timeout: 90_000 }, async () => {
    const pids = [mesh.orders.proc?.pid, mesh.frontend.proc?.pid];
    expect((await plainGet(mesh.frontendToOrders)).status).toBe(200);

    await mesh.caServer.stop();
    const stoppedAt = Date.now();
    const expiry = await svidExpiryMs(mesh);
    expect(expiry).toBeGreaterThan(Date.now());

    // Until the first SVID lapses, the mesh carries traffic without the CA.
    const traffic = startTraffic(() => plainGet(mesh.frontendToOrders), { workers: 1, pauseMs: 50 });
    await sleep(Math.max(0, expiry - Date.now() - 1_500));
    const whileValid = await traffic.stop();
    expect(whileValid.failures, whileValid.failures.join("\n")).toEqual([]);
    expect(whileValid.ok).toBeGreaterThan(0);

    // After it lapses, the sidecar says so on /readyz; keep the CA away longer than a whole SVID lifetime.
    await waitFor("a sidecar to report not ready after its SVID expired", async () => (await mesh.orders.readyStatus()) === 503 || (await mesh.frontend.readyStatus()) === 503, {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    await sleep(Math.max(0, stoppedAt + LIFETIME_MS + 1_000 - Date.now()));
    expect([await mesh.orders.readyStatus(), await mesh.frontend.readyStatus()]).toEqual([503, 503]);
    expect(mesh.orders.proc?.exitStatus).toBeUndefined();

    const back = Date.now();
    await mesh.caServer.start("mesh-ca (restarted)");
    await waitFor("both sidecars ready again", async () => (await mesh.orders.readyStatus()) === 200 && (await mesh.frontend.readyStatus()) === 200, {
      timeoutMs: 40_000,
      intervalMs: 100,
    });
    const recoveryMs = Date.now() - back;
    console.info(`sidecars recovered ${recoveryMs} ms after mesh-ca came back (mesh-ca was down ${back - stoppedAt} ms; SVID lifetime ${LIFETIME_MS} ms)`);

    expect((await plainGet(mesh.frontendToOrders)).status).toBe(200);
    // With its SVID gone it cannot renew by certificate: it went back to its join token.
    for (const sidecar of [mesh.orders, mesh.frontend]) {
      const rebootstrap = sidecar.proc?.jsonLines().find((l) => l.method === "bootstrap" && Date.parse(String(l.time)) >= back);
      expect(rebootstrap, sidecar.proc?.tail()).toBeDefined();
    }
    expect([mesh.orders.proc?.pid, mesh.frontend.proc?.pid]).toEqual(pids);
    expect(mesh.orders.proc?.exitStatus).toBeUndefined();
    expect(mesh.frontend.proc?.exitStatus).toBeUndefined();
  });
});
