/**
 * The SVID lifecycle against a CA double: CA down at start (not ready, then
 * ready without a restart), bad answers refused while the current SVID
 * stays, renewal with the SVID as client certificate, and an expired SVID
 * falling back to the bootstrap token, re-read from its file.
 */
import { writeFile } from "node:fs/promises";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { TestCa } from "../helpers/test-ca.js";
import { Backend, httpGet, ID, metricValue, startTestSidecar, TD, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup(ca: FakeCa, extra: Partial<Parameters<typeof startTestSidecar>[0]> = {}): Promise<{ sc: TestSidecar; backend: Backend }> {
  const backend = await Backend.start();
  const sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }], ...extra });
  cleanups.push(
    () => ca.stop(),
    () => backend.close(),
    () => sc.stop(),
  );
  return { sc, backend };
}

function renewals(sc: TestSidecar, result: string): Promise<number> {
  return metricValue(sc.sidecar.registry, "mesh_sidecar_svid_renewals_total", { result });
}

/** SHA-256 fingerprint of the certificate the sidecar serves right now. */
function servedFingerprint(ca: FakeCa, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, checkServerIdentity: () => undefined }, () => {
      resolve(s.getPeerX509Certificate()?.fingerprint256 ?? "");
      s.destroy();
    });
    s.on("error", reject);
  });
}

describe("SVID lifecycle", () => {
  it("is not ready while mesh-ca is down at start, and becomes ready when it comes up, without a restart", async () => {
    const ca = await FakeCa.create({ start: false });
    const { sc, backend } = await setup(ca);
    await waitFor("failed attempts", async () => (await renewals(sc, "error")) >= 2);
    const ready = await httpGet(`${sc.admin}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toContain("no SVID yet");
    // Connections are refused at accept while there is no SVID.
    const client = await ca.issue(ID.frontend);
    const refused = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x" });
    expect(refused.handshake).toBe(false);
    expect(backend.connections).toBe(0);
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_connections_rejected_total", { listener: "http", direction: "inbound", reason: "not_ready" })).toBe(1);

    await ca.start();
    await waitFor("readiness", async () => (await httpGet(`${sc.admin}/readyz`)).status === 200);
    const ok = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "hello" });
    expect(ok.received).toBe("hello");
    expect(ca.svidRequests.at(-1)).toMatchObject({ auth: "bearer", token: "token-orders", status: 200 });
    const expiry = await metricValue(sc.sidecar.registry, "mesh_sidecar_svid_expiry_timestamp_seconds");
    expect(expiry * 1000).toBeGreaterThan(Date.now());
  });

  it("refuses every kind of bad answer, keeps serving the current SVID, and counts them", async () => {
    const ca = await FakeCa.create();
    // ttl 10s: the first renewal comes at ~5 s, and the bad answers are used up well before expiry.
    const { sc } = await setup(ca, { ttl: "10s" });
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
    const first = await servedFingerprint(ca, sc.port("http"));
    ca.queue.push("wrong-key", "ca-leaf", "other-ca", "wrong-id", "expired", "garbage");
    ca.mode = "error"; // after the queue: keep failing until the checks below are done
    await waitFor("the bad answers to be used up", () => ca.queue.length === 0, 15_000);
    await waitFor("the answers to be counted", async () => (await renewals(sc, "error")) >= 2);
    expect(await renewals(sc, "invalid")).toBe(5);
    // Each refusal left the first SVID in place and the sidecar ready.
    expect(await servedFingerprint(ca, sc.port("http"))).toBe(first);
    expect(sc.sidecar.readiness().ready).toBe(true);
    // The next good answer replaces it, renewed with the SVID as client certificate (no token).
    ca.mode = "ok";
    await waitFor("a good renewal", async () => (await renewals(sc, "ok")) === 2, 10_000);
    expect(await servedFingerprint(ca, sc.port("http"))).not.toBe(first);
    const renewal = ca.svidRequests.filter((r) => r.status === 200).at(-1);
    expect(renewal).toMatchObject({ auth: "svid", spiffeId: ID.self });
    expect(renewal?.token).toBeUndefined();
    expect(renewal?.ttl).toBe("10s");
  });

  it("falls back to the bootstrap token, re-read from its file, once the SVID has expired", async () => {
    const ca = await FakeCa.create();
    const { sc } = await setup(ca, { ttl: "3s" });
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
    ca.mode = "error";
    await waitFor("the SVID to expire", async () => (await httpGet(`${sc.admin}/readyz`)).body.includes("SVID expired"), 10_000);
    // While the SVID was valid, renewals presented it; the failures did not replace it.
    expect(ca.svidRequests.filter((r) => r.status === 500).some((r) => r.auth === "svid")).toBe(true);
    // The kubelet rotated the token in the meantime; the old one is no longer accepted.
    ca.tokens.set("rotated-token", ID.self);
    ca.tokens.delete("token-orders");
    await writeFile(sc.tokenPath, "rotated-token\n");
    ca.mode = "ok";
    await waitFor("readiness again", () => sc.sidecar.readiness().ready, 10_000);
    expect(ca.svidRequests.at(-1)).toMatchObject({ auth: "bearer", token: "rotated-token", status: 200 });
  });

  it("adopts new roots from the periodic bundle refresh, for new handshakes", async () => {
    const ca = await FakeCa.create();
    const { sc, backend } = await setup(ca, { bundleRefresh: "1s" });
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
    const newRoot = await TestCa.create({ trustDomain: TD });
    const client = await newRoot.issue(ID.frontend);
    const before = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x" });
    expect(before.received).toBe("");
    ca.extraRoots.push(newRoot.bundlePem);
    await waitFor("the refresh", () => ca.requests.some((r) => r.path === "/v1/bundle.json"), 5_000);
    await waitFor("the new root to be trusted", async () => (await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "y" })).received === "y", 5_000, 200);
    expect(backend.connections).toBeGreaterThanOrEqual(1);
    const expiry = await metricValue(sc.sidecar.registry, "mesh_sidecar_bundle_expiry_timestamp_seconds");
    expect(expiry).toBe(Math.min(ca.root.cert.notAfter.getTime(), newRoot.cert.notAfter.getTime()) / 1000);
  });

  it("fetches the bundle right after the first SVID, then at the CA's refresh hint (ca.bundleRefresh only bounds it), and shows the CA's sequence", async () => {
    const ca = await FakeCa.create();
    ca.refreshHintSeconds = 1;
    ca.bundleSequence = 3;
    const { sc } = await setup(ca, { bundleRefresh: "1h" });
    await waitFor("the first bundle fetch", () => ca.requests.some((r) => r.path === "/v1/bundle.json"), 5_000);
    await waitFor("the sequence", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_bundle_sequence")) === 3, 5_000);
    ca.bundleSequence = 4;
    // With ca.bundleRefresh at 1h, further fetches within seconds come from the hint alone.
    await waitFor("two more fetches at the hint", () => ca.requests.filter((r) => r.path === "/v1/bundle.json").length >= 3, 8_000);
    await waitFor("the new sequence", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_bundle_sequence")) === 4, 5_000);
  });
});
