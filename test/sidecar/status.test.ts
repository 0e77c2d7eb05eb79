/**
 * GET /status on a real sidecar's admin port: null SVID and the readiness
 * reason while mesh-ca is down, then the SVID it serves, the bundle's roots,
 * the policy file's hash as it is reloaded or refused, the listeners with
 * their bound addresses and open connections; never a key or a token.
 */
import { createHash, X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import type { SidecarStatus } from "../../sidecar/status.js";
import { FakeCa } from "./fake-ca.js";
import { Backend, DEFAULT_POLICY, httpGet, ID, startTestSidecar, TD, type TestSidecar, waitFor } from "./harness.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup(ca: FakeCa): Promise<{ sc: TestSidecar; backend: Backend; upstream: Backend }> {
  const backend = await Backend.start();
  const upstream = await Backend.start();
  const sc = await startTestSidecar({
    ca,
    inbound: [{ name: "http", forward: backend.address }],
    outbound: [{ name: "to-upstream", upstream: upstream.address, expectedPeer: `spiffe://${TD}/ns/shop/sa/*` }],
  });
  cleanups.push(
    () => ca.stop(),
    () => backend.close(),
    () => upstream.close(),
    () => sc.stop(),
  );
  return { sc, backend, upstream };
}

async function status(sc: TestSidecar): Promise<{ status: number; body: string; json: SidecarStatus }> {
  const res = await httpGet(`${sc.admin}/status`);
  return { ...res, json: JSON.parse(res.body) as SidecarStatus };
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** Everything secret the sidecar holds in this test: none of it may appear in /status. */
function expectNoSecret(body: string): void {
  expect(body).not.toContain("PRIVATE KEY");
  expect(body).not.toContain("BEGIN");
  expect(body).not.toContain("token-orders");
}

describe("GET /status", () => {
  it("answers 200 with svid null and the readiness reason before the first SVID", async () => {
    const ca = await FakeCa.create({ start: false });
    const { sc } = await setup(ca);
    await waitFor("two failed SVID requests", () => sc.sidecar.status().renewal.failedAttempts >= 2);
    const res = await status(sc);
    expect(res.status).toBe(200);
    expectNoSecret(res.body);
    const s = res.json;
    expect(s.svid).toBeNull();
    expect(s.readiness).toEqual({ ready: false, reason: expect.stringContaining("no SVID yet") });
    expect(s.renewal.failedAttempts).toBeGreaterThanOrEqual(2);
    // While retrying, the next attempt is scheduled (or under way: then null).
    if (s.renewal.nextAttemptAt !== null) expect(Date.parse(s.renewal.nextAttemptAt)).toBeGreaterThan(Date.parse(s.startedAt));
    // The bootstrap bundle, root by root.
    const root = new X509Certificate(ca.bundlePem);
    expect(s.bundle).toEqual({
      source: "bootstrap",
      sequence: null,
      roots: [{ subject: root.subject.split("\n").join(", "), sha256: root.fingerprint256, notAfter: new Date(root.validTo).toISOString() }],
    });
    expect(s.trustDomain).toBe(TD);
    expect(s.program).toBe("mesh-sidecar");
    const pkg = JSON.parse(await readFile("package.json", "utf8")) as { version: string };
    expect(s.version).toEqual({ version: pkg.version, node: process.versions.node, openssl: process.versions.openssl });
  });

  it("shows the SVID it serves, the next renewal, the policy in force, and the listeners with their open connections", async () => {
    const ca = await FakeCa.create();
    const { sc, upstream } = await setup(ca);
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);

    // The certificate a client actually receives from the inbound listener, held open.
    const client = await ca.issue(ID.frontend);
    const { socket, served } = await new Promise<{ socket: ReturnType<typeof tlsConnect>; served: X509Certificate }>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: sc.port("http"), ca: ca.bundlePem, cert: client.chainPem, key: client.keyPem, checkServerIdentity: () => undefined }, () =>
        resolve({ socket: s, served: s.getPeerX509Certificate() as X509Certificate }),
      );
      s.on("error", reject);
    });
    cleanups.push(async () => void socket.destroy());
    await waitFor("the connection to be spliced", async () => (await status(sc)).json.listeners.find((l) => l.name === "http")?.openConnections === 1);

    const res = await status(sc);
    expectNoSecret(res.body);
    const s = res.json;
    expect(s.readiness).toEqual({ ready: true });
    expect(s.svid).toEqual({
      spiffeId: ID.self,
      serial: served.serialNumber,
      sha256: served.fingerprint256,
      notBefore: new Date(served.validFrom).toISOString(),
      notAfter: new Date(served.validTo).toISOString(),
    });
    const next = Date.parse(s.renewal.nextAttemptAt as string);
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThan(Date.parse(s.svid?.notAfter as string));
    expect(s.renewal.failedAttempts).toBe(0);
    expect(s.bundle.source).toBe("mesh-ca");
    // The CA's sequence, from its bundle.json (the SVID answer's PEM bundle carries none).
    await waitFor("the bundle fetch", async () => (await status(sc)).json.bundle.sequence !== null);
    expect((await status(sc)).json.bundle.sequence).toBe(ca.bundleSequence);
    expect(s.bundle.roots.map((r) => r.sha256)).toEqual([new X509Certificate(ca.bundlePem).fingerprint256]);
    expect(s.policy).toEqual({ file: sc.policyPath, sha256: sha256(DEFAULT_POLICY), loadedAt: expect.any(String), lastRefusal: null });
    expect(s.listeners).toEqual([
      { name: "http", direction: "inbound", address: `127.0.0.1:${sc.port("http")}`, forward: expect.stringMatching(/^127\.0\.0\.1:\d+$/), openConnections: 1 },
      { name: "to-upstream", direction: "outbound", address: `127.0.0.1:${sc.port("to-upstream")}`, upstream: upstream.address, expectedPeer: `spiffe://${TD}/ns/shop/sa/*`, openConnections: 0 },
    ]);

    socket.destroy();
    await waitFor("the connection to close", async () => (await status(sc)).json.listeners.find((l) => l.name === "http")?.openConnections === 0);
  });

  it("follows the policy file: a reload changes hash and load time, a refused file is shown beside the one in force", async () => {
    const ca = await FakeCa.create();
    const { sc } = await setup(ca);
    const first = (await status(sc)).json.policy;
    expect(first?.sha256).toBe(sha256(DEFAULT_POLICY));

    const next = `version: 1\nlisteners:\n  http:\n    allow: [${ID.frontend}]\n`;
    await writeFile(sc.policyPath, next);
    await sc.sidecar.reloadPolicy();
    await waitFor("the reload", async () => (await status(sc)).json.policy?.sha256 === sha256(next));
    const reloaded = (await status(sc)).json.policy;
    expect(Date.parse(reloaded?.loadedAt as string)).toBeGreaterThanOrEqual(Date.parse(first?.loadedAt as string));

    const bad = "version: 1\nlisteners:\n  http:\n    allow: [not-an-id]\n";
    await writeFile(sc.policyPath, bad);
    await sc.sidecar.reloadPolicy();
    await waitFor("the refusal", async () => (await status(sc)).json.policy?.lastRefusal !== null);
    const refused = (await status(sc)).json.policy;
    expect(refused?.sha256).toBe(sha256(next));
    expect(refused?.lastRefusal).toEqual({ sha256: sha256(bad), refusedAt: expect.any(String), errors: [expect.stringMatching(/policy\.yaml:4:13: listeners\.http\.allow\[0\]: /)] });
  });
});
