/**
 * Each "pod" (sample app + its sidecar) in its own network namespace and
 * mesh-ca in a third, joined by veth pairs on private /30s: the mesh works
 * across hosts, not only on loopback. The frontend app calls orders through
 * its outbound sidecar over the veth; a client on another host with an
 * allowed SVID gets through; one with an identity the policy does not list
 * is refused before anything reaches the orders app.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessGroup, run, type ManagedProcess } from "../helpers/processes.js";
import { CaDir, CaServer, fetchText, nodeCommand, policyYaml, requireBuilt, SAMPLE_APP, Sidecar, workloadId, type SvidFiles } from "./support/mesh.js";
import { metricSum } from "./support/metrics.js";
import { NetnsLab, requireRoot } from "./support/netns.js";

const FRONTEND_ID = workloadId("frontend");
const ORDERS_ID = workloadId("orders");
const APP = "127.0.0.1:8080";
const INBOUND_PORT = 15006;

describe("pods in their own network namespaces", () => {
  const lab = new NetnsLab();
  const group = new ProcessGroup();
  let work: string;
  let ns: { ca: string; frontend: string; orders: string };
  let addr: { caFromFrontend: string; caFromOrders: string; ordersFromFrontend: string; ordersFromCa: string };
  let ordersApp: ManagedProcess;
  let clients: { allowed: SvidFiles; denied: SvidFiles };
  let orders: Sidecar;

  beforeAll(async () => {
    requireRoot();
    requireBuilt();
    work = mkdtempSync(join(tmpdir(), "mesh-netns-"));
    ns = { ca: await lab.namespace("ca"), frontend: await lab.namespace("frontend"), orders: await lab.namespace("orders") };
    const caFe = await lab.link(ns.ca, ns.frontend);
    const caOr = await lab.link(ns.ca, ns.orders);
    const feOr = await lab.link(ns.frontend, ns.orders);
    addr = { caFromFrontend: caFe.a, caFromOrders: caOr.a, ordersFromFrontend: feOr.b, ordersFromCa: caOr.b };

    const ca = await CaDir.init(join(work, "ca"));
    clients = { allowed: await ca.issue(FRONTEND_ID, join(work, "frontend-client")), denied: await ca.issue(workloadId("outsider"), join(work, "outsider-client")) };
    const caServer = new CaServer(group, { ca, netns: ns.ca, listen: "0.0.0.0:8443", admin: "127.0.0.1:9090", serverNames: ["localhost", "127.0.0.1", caFe.a, caOr.a] });
    await caServer.start();

    ordersApp = group.start({ name: "orders-app", ...nodeCommand([SAMPLE_APP, "--name", "orders", "--listen", APP], ns.orders) });
    group.start({ name: "frontend-app", ...nodeCommand([SAMPLE_APP, "--name", "frontend", "--listen", APP, "--call", "http://127.0.0.1:15001"], ns.frontend) });
    orders = new Sidecar(group, {
      name: "orders-sidecar",
      netns: ns.orders,
      dir: join(work, "orders"),
      caUrl: `https://${caOr.a}:8443`,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(ORDERS_ID),
      expectedId: ORDERS_ID,
      inbound: [{ name: "orders", listen: `0.0.0.0:${INBOUND_PORT}`, forward: APP }],
      policy: policyYaml({ orders: { allow: [FRONTEND_ID] } }),
      admin: "127.0.0.1:15020",
    });
    const frontend = new Sidecar(group, {
      name: "frontend-sidecar",
      netns: ns.frontend,
      dir: join(work, "frontend"),
      caUrl: `https://${caFe.a}:8443`,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(FRONTEND_ID),
      expectedId: FRONTEND_ID,
      outbound: [{ name: "orders", listen: "127.0.0.1:15001", upstream: `${feOr.b}:${INBOUND_PORT}`, expectedPeer: ORDERS_ID }],
      admin: "127.0.0.1:15020",
    });
    await Promise.all([orders.start(), frontend.start()]);
  });

  afterAll(async () => {
    await group.stopAll();
    const problems = await lab.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
    expect(problems).toEqual([]);
  });

  const ordersRequests = (): number => ordersApp.jsonLines().filter((l) => l.msg === "request").length;

  it("carries the frontend app's call to orders across the veth", async () => {
    const r = await fetchText(`http://${APP}/orders/7`, ns.frontend);
    expect(r.status, r.body).toBe(200);
    const answer = JSON.parse(r.body) as { service: string; upstream: { status: number; body: { service: string; received: { path: string } } } };
    expect(answer.service).toBe("frontend");
    expect(answer.upstream.status).toBe(200);
    expect(answer.upstream.body.service).toBe("orders");
    expect(answer.upstream.body.received.path).toBe("/orders/7");
  });

  it("lets a client on another host with an allowed SVID through (curl from the CA's namespace)", async () => {
    const before = ordersRequests();
    const r = await run(lab.exec(ns.ca, "curl", ["-sS", "-k", "--cert", clients.allowed.certFile, "--key", clients.allowed.keyFile, `https://${addr.ordersFromCa}:${INBOUND_PORT}/direct`]));
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ service: "orders", received: { path: "/direct" } });
    expect(ordersRequests()).toBe(before + 1);
  });

  it("refuses a client on another host whose identity the policy does not list, before the orders app", async () => {
    const before = ordersRequests();
    const r = await run(lab.exec(ns.ca, "curl", ["-sS", "-k", "--cert", clients.denied.certFile, "--key", clients.denied.keyFile, `https://${addr.ordersFromCa}:${INBOUND_PORT}/denied`]));
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(ordersRequests()).toBe(before);
    expect(metricSum(await orders.metrics(), "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "deny", rule: "default" })).toBeGreaterThan(0);
  });

  it("keeps every address inside the namespaces it made (none on the host)", async () => {
    const host = await run({ command: "ip", args: ["-o", "addr"] });
    expect(host.stdout).not.toContain("10.253.");
    expect(addr.caFromFrontend).not.toBe(addr.caFromOrders);
    expect(lab.created).toHaveLength(3);
  });
});
