/**
 * haproxy as a mesh client: it connects to the orders sidecar's inbound
 * listener with an SVID from `mesh-ca issue` as its client certificate and
 * checks the sidecar's chain against the bundle. With an identity the policy
 * allows, requests reach the orders app; with one it does not, haproxy gets
 * no answer and nothing reaches the app.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plainGet } from "../e2e/support/clients.js";
import { workloadId } from "../e2e/support/mesh.js";
import { FRONTEND_ID, startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { HAPROXY_PREAMBLE, startHaproxy } from "./support/haproxy.js";
import { writeCombinedPem } from "./support/pem.js";

describe("haproxy as a client of an inbound listener", () => {
  let mesh: TwoPods;
  let allowedPort: number;
  let deniedPort: number;

  beforeAll(async () => {
    mesh = await startTwoPods();
    const allowed = writeCombinedPem(await mesh.ca.issue(FRONTEND_ID, join(mesh.work, "haproxy-frontend")), join(mesh.work, "haproxy-frontend.pem"));
    const denied = writeCombinedPem(await mesh.ca.issue(workloadId("outsider"), join(mesh.work, "haproxy-outsider")), join(mesh.work, "haproxy-outsider.pem"));
    [allowedPort, deniedPort] = [await mesh.spare(), await mesh.spare()];
    const server = (pem: string): string => `server orders ${mesh.ordersInbound} ssl crt ${pem} ca-file ${mesh.ca.bundleFile} verify required ssl-min-ver TLSv1.3`;
    await startHaproxy(
      mesh.group,
      join(mesh.work, "haproxy.cfg"),
      `${HAPROXY_PREAMBLE}
frontend as_frontend
  bind 127.0.0.1:${allowedPort}
  default_backend orders_as_frontend

frontend as_outsider
  bind 127.0.0.1:${deniedPort}
  default_backend orders_as_outsider

backend orders_as_frontend
  ${server(allowed)}

backend orders_as_outsider
  ${server(denied)}
`,
      [allowedPort, deniedPort],
    );
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("reaches the orders app with an allowed SVID", async () => {
    const answer = await plainGet(`127.0.0.1:${allowedPort}`, { path: "/via-haproxy" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ service: "orders", path: "/via-haproxy" });
    expect(mesh.backend.requests.some((r) => r.path === "/via-haproxy")).toBe(true);
  });

  it("gets no answer with an SVID the policy does not allow, and nothing reaches the app", async () => {
    const before = mesh.backend.connections;
    const answer = await plainGet(`127.0.0.1:${deniedPort}`, { path: "/denied-via-haproxy" });
    expect([502, 503]).toContain(answer.status);
    expect(mesh.backend.connections).toBe(before);
    expect(mesh.backend.requests.some((r) => r.path === "/denied-via-haproxy")).toBe(false);
  });
});
