/**
 * SVIDs that live 10 s (the shortest mesh-ca allows) are renewed by both
 * sidecars about every 5 s while requests flow continuously, on new
 * connections and on one long-lived connection: across at least three
 * rotations, not one request fails, and the certificate the orders sidecar
 * presents really changes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { plainGet, startTraffic } from "./support/clients.js";
import type { SvidFiles } from "./support/mesh.js";
import { metricSum } from "./support/metrics.js";
import { FRONTEND_ID, startTwoPods, type TwoPods } from "./support/two-pods.js";

const ROTATIONS = 3;

/** Serial number of the SVID the inbound listener presents right now. */
function servedSerial(hostPort: string, client: SvidFiles): Promise<string> {
  const [host, port] = hostPort.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), cert: readFileSync(client.certFile), key: readFileSync(client.keyFile), ca: readFileSync(client.bundleFile), checkServerIdentity: () => undefined }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

async function renewals(mesh: TwoPods): Promise<[number, number]> {
  const [o, f] = await Promise.all([mesh.orders.metrics(), mesh.frontend.metrics()]);
  return [metricSum(o, "mesh_sidecar_svid_renewals_total", { result: "ok" }), metricSum(f, "mesh_sidecar_svid_renewals_total", { result: "ok" })];
}

describe("SVID rotation under continuous traffic", () => {
  let mesh: TwoPods;
  let client: SvidFiles;

  beforeAll(async () => {
    mesh = await startTwoPods({ svid: { defaultTtl: "10s", maxTtl: "10s", backdate: "0s" } });
    client = await mesh.ca.issue(FRONTEND_ID, join(mesh.work, "probe"), "1h");
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it(`loses no request across ${ROTATIONS} rotations of both sidecars' SVIDs`, { timeout: 90_000 }, async () => {
    const firstSerial = await servedSerial(mesh.ordersInbound, client);
    const [ordersStart, frontendStart] = await renewals(mesh);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = startTraffic(() => plainGet(mesh.frontendToOrders), { workers: 2, pauseMs: 20 });
    const longLived = startTraffic(() => plainGet(mesh.frontendToOrders, { agent: keepAlive }), { workers: 1, pauseMs: 20 });
    try {
      await waitFor(
        `${ROTATIONS} renewals on both sidecars`,
        async () => {
          const [o, f] = await renewals(mesh);
          return o - ordersStart >= ROTATIONS && f - frontendStart >= ROTATIONS;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    } finally {
      const reports = [await fresh.stop(), await longLived.stop()];
      keepAlive.destroy();
      for (const r of reports) {
        expect(r.failures, `failed requests:\n${r.failures.join("\n")}`).toEqual([]);
        expect(r.failed).toBe(0);
        expect(r.ok).toBeGreaterThan(50);
      }
    }
    expect(await servedSerial(mesh.ordersInbound, client)).not.toBe(firstSerial);
    const orders = await mesh.orders.metrics();
    expect(metricSum(orders, "mesh_sidecar_svid_renewals_total", { result: "error" })).toBe(0);
  });
});
