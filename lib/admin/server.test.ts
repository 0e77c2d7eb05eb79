import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { startAdminServer, type AdminServer, type Readiness } from "./server.js";

let server: AdminServer | undefined;
afterEach(async () => server?.close());

describe("admin server", () => {
  it("serves metrics, health and readiness with the reason", async () => {
    const registry = new Registry();
    new Counter({ name: "test_things_total", help: "things", registers: [registry] }).inc(3);
    let state: Readiness = { ready: false, reason: "no SVID yet" };
    server = await startAdminServer({ listen: { host: "127.0.0.1", port: 0 }, registry, readiness: () => state });
    const base = `http://127.0.0.1:${server.address.port}`;

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("test_things_total 3");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe("not ready: no SVID yet\n");
    state = { ready: true };
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  });
});
