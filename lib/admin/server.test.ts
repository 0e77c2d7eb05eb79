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

describe("admin /status", () => {
  const registry = new Registry();
  const readiness = (): Readiness => ({ ready: true });

  it("serves the program's status callback as JSON, built on every request", async () => {
    let calls = 0;
    server = await startAdminServer({ listen: { host: "127.0.0.1", port: 0 }, registry, readiness, status: async () => ({ calls: ++calls, at: null }) });
    const base = `http://127.0.0.1:${server.address.port}`;
    const first = await fetch(`${base}/status`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(await first.json()).toEqual({ calls: 1, at: null });
    expect(await (await fetch(`${base}/status?x=1`)).json()).toEqual({ calls: 2, at: null });
    // The other paths are unchanged, and the 404 names /status too.
    expect(await (await fetch(`${base}/healthz`)).text()).toBe("ok\n");
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("not found: try /metrics, /healthz, /readyz or /status\n");
    expect((await fetch(`${base}/status`, { method: "POST" })).status).toBe(405);
  });

  it("answers 500 with the reason when the callback throws", async () => {
    server = await startAdminServer({
      listen: { host: "127.0.0.1", port: 0 },
      registry,
      readiness,
      status: () => {
        throw new Error("no state yet");
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.address.port}/status`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "the status could not be built: no state yet" });
  });

  it("is 404 for a program that gives no status", async () => {
    server = await startAdminServer({ listen: { host: "127.0.0.1", port: 0 }, registry, readiness });
    const res = await fetch(`http://127.0.0.1:${server.address.port}/status`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe("not found: try /metrics, /healthz or /readyz\n");
  });
});
