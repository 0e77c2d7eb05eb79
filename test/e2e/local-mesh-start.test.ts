/**
 * `npm start` as a new user runs it (its real code and the shipped
 * deploy/local/ files, on free ports and a temporary state directory): it
 * brings the mesh up, makes an allowed and a denied call, and what it prints
 * works (and names the caller the orders app read from its sidecar's PROXY
 * v2 header): the curl and openssl commands repeat both calls, mesh.json lists
 * reachable addresses in the shape docs/local-mesh.md gives, and the /metrics URLs show the
 * counters the calls moved.
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessGroup, httpRequest, run } from "../helpers/processes.js";
import { metricSum } from "./support/metrics.js";
import { startLocalMesh, type LocalMesh } from "./support/local-mesh.js";
import { workloadId } from "./support/mesh.js";

describe("npm start", () => {
  const group = new ProcessGroup();
  let mesh: LocalMesh;

  beforeAll(async () => {
    mesh = await startLocalMesh(group);
  }, 90_000);

  afterAll(async () => {
    await group.stopAll();
    if (mesh) rmSync(mesh.stateDir, { recursive: true, force: true });
  });

  it("makes the allowed call, which the orders app answers, and the denied call, which the sidecar refuses", () => {
    const [allowed, denied, appPath] = mesh.ready.calls;
    expect(allowed).toMatchObject({ expected: "allowed", result: "allowed", status: 200 });
    expect(allowed?.title).toContain(workloadId("frontend"));
    expect(denied).toMatchObject({ expected: "refused", result: "refused" });
    expect(denied?.title).toContain(workloadId("outsider"));
    expect(appPath).toMatchObject({ expected: "allowed", result: "allowed", status: 200 });
  });

  it("prints the caller the orders app read from the PROXY v2 header: the client's SPIFFE ID, and the frontend's behind its sidecar", () => {
    const [allowed, denied, appPath] = mesh.ready.calls;
    expect(allowed?.caller).toBe(workloadId("frontend"));
    expect(denied?.caller).toBeUndefined();
    expect(appPath?.caller).toBe(workloadId("frontend"));
  });

  it("prints a curl command that repeats the allowed call", async () => {
    const r = await run({ command: "sh", args: ["-c", mesh.ready.calls[0]?.command as string] });
    expect(r.code, r.output).toBe(0);
    const answer = JSON.parse(r.stdout) as { caller: { address: string; listener: string } };
    expect(answer).toMatchObject({ service: "orders", caller: { spiffeId: workloadId("frontend"), tls: { version: "TLSv1.3" } }, received: { method: "GET", path: "/" } });
    expect(answer.caller.listener).toBe(`127.0.0.1:${mesh.basePort + 21}`);
    expect(answer.caller.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("prints a curl command that repeats the denied call, and curl gets no answer", async () => {
    const r = await run({ command: "sh", args: ["-c", mesh.ready.calls[1]?.command as string] });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
  });

  it("prints a curl command for the app path, frontend → orders through both sidecars", async () => {
    const r = await run({ command: "sh", args: ["-c", mesh.ready.calls[2]?.command as string] });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ service: "frontend", upstream: { status: 200, body: { service: "orders", caller: { spiffeId: workloadId("frontend") } } } });
  });

  it("prints an openssl command that checks the server's chain and gets the answer", async () => {
    const r = await run({ command: "sh", args: ["-c", mesh.ready.opensslCommand] });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('"service": "orders"');
    expect(mesh.ready.curlNote).toContain("-k");
  });

  it("writes mesh.json in the shape docs/local-mesh.md gives, every address answering", async () => {
    const json = JSON.parse(readFileSync(mesh.ready.meshJson, "utf8")) as {
      ca: { api: string; admin: string };
      services: Record<string, { spiffeId: string; app: string; admin: string; inbound: Record<string, string>; outbound: Record<string, string> }>;
    };
    expect(Object.keys(json).sort()).toEqual(["ca", "services"]);
    expect(Object.keys(json.ca).sort()).toEqual(["admin", "api"]);
    expect(Object.keys(json.services).sort()).toEqual(["frontend", "orders"]);
    for (const [name, s] of Object.entries(json.services)) {
      expect(Object.keys(s).sort()).toEqual(["admin", "app", "inbound", "outbound", "spiffeId"]);
      expect(s.spiffeId).toBe(workloadId(name));
      expect((await httpRequest(`http://${s.admin}/readyz`)).status).toBe(200);
    }
    expect((await httpRequest(`http://${json.ca.admin}/readyz`)).status).toBe(200);
    const addresses = [json.ca.api, json.ca.admin, ...Object.values(json.services).flatMap((s) => [s.app, s.admin, ...Object.values(s.inbound), ...Object.values(s.outbound)])];
    for (const a of addresses) expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(new Set(addresses).size).toBe(addresses.length);
  });

  it("keeps a client key, certificate and bundle for an allowed and a denied identity", () => {
    for (const name of ["frontend", "outsider"]) {
      for (const ext of ["key", "crt", "bundle.pem"]) expect(statSync(`${mesh.stateDir}/clients/${name}.${ext}`).size).toBeGreaterThan(0);
      expect(statSync(`${mesh.stateDir}/clients/${name}.key`).mode & 0o077).toBe(0);
    }
  });

  it("prints /metrics URLs whose counters show the allowed and the denied call", async () => {
    expect(Object.keys(mesh.ready.metrics).sort()).toEqual(["frontend sidecar", "mesh-ca", "orders sidecar"]);
    const orders = (await httpRequest(mesh.ready.metrics["orders sidecar"] as string)).body;
    expect(metricSum(orders, "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "allow", rule: workloadId("frontend") })).toBeGreaterThan(0);
    expect(metricSum(orders, "mesh_sidecar_authz_decisions_total", { listener: "orders", decision: "deny", rule: "default" })).toBeGreaterThan(0);
    const ca = (await httpRequest(mesh.ready.metrics["mesh-ca"] as string)).body;
    expect(metricSum(ca, "mesh_ca_svid_requests_total", { method: "join_token", result: "issued" })).toBeGreaterThanOrEqual(2);
    expect(mesh.ready.counters.some((c) => c.startsWith("mesh_sidecar_authz_decisions_total"))).toBe(true);
  });

  it("relays every process's log as JSON lines tagged with the process name", () => {
    const procs = new Set(mesh.proc.jsonLines().map((l) => l.proc));
    for (const name of ["npm-start", "mesh-ca", "orders", "frontend", "orders-sidecar", "frontend-sidecar"]) expect(procs).toContain(name);
    const notJson = mesh.proc.lines.filter((l) => l.stream === "stdout" && !l.text.startsWith("{"));
    expect(notJson).toEqual([]);
  });
});
