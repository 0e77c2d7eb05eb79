/**
 * Policy hot reload with connections open: a good reload closes exactly the
 * connections whose peer is now denied; a bad file is refused whole (logged
 * with line:col, counted) and the old policy stays; a ConfigMap-style update
 * (a `..data` symlink swap in the directory) is picked up by the directory
 * watch alone.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { Backend, holdTlsConnection, ID, logsWith, metricValue, startTestSidecar, TD, type HeldConnection, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

let ca: FakeCa;
let backend: Backend;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await FakeCa.create();
  backend = await Backend.start();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await backend?.close();
  await ca?.stop();
});

const policyAllowing = (...ids: string[]): string => `version: 1\nlisteners:\n  http:\n    allow:\n${ids.map((id) => `      - ${id}\n`).join("")}`;

/** An open, proxied connection we can talk over and watch for closing. */
function openConn(port: number, id: string): Promise<HeldConnection> {
  return holdTlsConnection(ca, port, id);
}

function reloads(sc: TestSidecar, result: "ok" | "error"): Promise<number> {
  return metricValue(sc.sidecar.registry, "mesh_sidecar_policy_reloads_total", { result });
}

describe("policy hot reload", () => {
  let sc: TestSidecar;

  beforeAll(async () => {
    sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }], policy: policyAllowing(ID.frontend, ID.opsTool) });
    cleanups.push(() => sc.stop());
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  });

  it("closes established connections whose peer is now denied and leaves allowed ones untouched", async () => {
    const frontend = await openConn(sc.port("http"), ID.frontend);
    const ops = await openConn(sc.port("http"), ID.opsTool);
    expect(await frontend.echo("one")).toBe("one");
    expect(await ops.echo("two")).toBe("two");

    await writeFile(sc.policyPath, policyAllowing(ID.frontend));
    await waitFor("the reload", async () => (await reloads(sc, "ok")) === 1);
    await waitFor("the ops connection to be closed", () => ops.closed());
    expect(frontend.closed()).toBe(false);
    expect(await frontend.echo("still here")).toBe("still here");
    expect(logsWith(sc.logs, "closing connection: the reloaded policy denies").map((l) => l.peer)).toEqual([ID.opsTool]);

    const before = backend.connections;
    const again = await tlsExchange(sc.port("http"), { identity: await ca.issue(ID.opsTool), bundlePem: ca.bundlePem, data: "x" });
    expect(again.received).toBe("");
    expect(backend.connections).toBe(before);
    frontend.socket.destroy();
  });

  it("refuses a bad policy file whole, logs line:col, counts it, and keeps the old policy", async () => {
    const frontend = await openConn(sc.port("http"), ID.frontend);
    const bad = [
      "version: 1",
      "listeners:",
      "  http:",
      "    allow:",
      `      - spiffe://${TD}/ns/web/sa/frontend`,
      `      - spiffe://${TD}/ns/ops/sa/deb*gger`, // line 6: bad wildcard
      "    colour: blue", // line 7: unknown key
    ].join("\n");
    await writeFile(sc.policyPath, bad);
    await waitFor("the refusal to be counted", async () => (await reloads(sc, "error")) === 1);
    const line = logsWith(sc.logs, "the previous policy stays in force")[0];
    expect(line?.level).toBe(50);
    expect(line?.errors).toEqual([
      expect.stringMatching(/policy\.yaml:6:9: listeners\.http\.allow\[1\]: .*wildcard must be a whole segment/),
      expect.stringMatching(/policy\.yaml:7:5: listeners\.http\.colour: unknown key/),
    ]);
    // The old policy (frontend only) still decides, for open and new connections.
    expect(await frontend.echo("after bad reload")).toBe("after bad reload");
    const allowed = await tlsExchange(sc.port("http"), { identity: await ca.issue(ID.frontend), bundlePem: ca.bundlePem, data: "new" });
    expect(allowed.received).toBe("new");
    expect(await reloads(sc, "ok")).toBe(1);
    frontend.socket.destroy();
  });
});

describe("ConfigMap-style update", () => {
  it("notices a ..data symlink swap through the directory watch", async () => {
    // Kubernetes layout: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>/
    const dir = await mkdtemp(join(tmpdir(), "sidecar-configmap-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, "..v1"));
    await writeFile(join(dir, "..v1", "policy.yaml"), policyAllowing(ID.frontend));
    await symlink("..v1", join(dir, "..data"));
    await symlink("..data/policy.yaml", join(dir, "policy.yaml"));
    // A poll interval far beyond the test: only the directory watch can see the swap.
    const sc = await startTestSidecar({
      ca,
      dir,
      inbound: [{ name: "http", forward: backend.address }],
      policy: policyAllowing(ID.frontend),
      options: { policyPollIntervalMs: 600_000 },
    });
    cleanups.push(() => sc.stop());
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
    const ops = await ca.issue(ID.opsTool);
    expect((await tlsExchange(sc.port("http"), { identity: ops, bundlePem: ca.bundlePem, data: "x" })).received).toBe("");

    await mkdir(join(dir, "..v2"));
    await writeFile(join(dir, "..v2", "policy.yaml"), policyAllowing(ID.frontend, ID.opsTool));
    await symlink("..v2", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));

    await waitFor("the reload", async () => (await reloads(sc, "ok")) === 1, 5_000);
    expect((await tlsExchange(sc.port("http"), { identity: ops, bundlePem: ca.bundlePem, data: "now allowed" })).received).toBe("now allowed");
  });
});
