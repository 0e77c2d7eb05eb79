/**
 * Inbound: an allowed peer reaches the app and back; every kind of bad or
 * unauthorized peer is refused before the app. Refusals are asserted AT THE
 * BACKEND: under TLS 1.3 a refused client's handshake still completes on its
 * side, so only "nothing reached the app" proves the refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../helpers/test-ca.js";
import { FakeCa } from "./fake-ca.js";
import { Backend, ID, logsWith, metricValue, startTestSidecar, TD, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

let ca: FakeCa;
let backend: Backend;
let sc: TestSidecar;

beforeAll(async () => {
  ca = await FakeCa.create();
  backend = await Backend.start();
  sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }] });
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
});

afterAll(async () => {
  await sc?.stop();
  await backend?.close();
  await ca?.stop();
});

function handshakes(result: string): Promise<number> {
  return metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result });
}

describe("inbound listener", () => {
  it("carries an allowed peer's bytes to the app and the app's answer back", async () => {
    const before = backend.connections;
    const client = await ca.issue(ID.frontend);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "hello app" });
    expect(res.error).toBeUndefined();
    expect(res.received).toBe("hello app");
    expect(backend.connections).toBe(before + 1);
    expect(await handshakes("ok")).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision: "allow", rule: ID.frontend }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("reports the most specific allow entry as the deciding rule", async () => {
    const client = await ca.issue(ID.opsTool);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "ops" });
    expect(res.received).toBe("ops");
    expect(
      await metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision: "allow", rule: `spiffe://${TD}/ns/ops/*` }),
    ).toBe(1);
  });

  it("serves its own SVID from mesh-ca to clients", async () => {
    const { connect } = await import("node:tls");
    const client = await ca.issue(ID.frontend);
    const served = await new Promise<string | undefined>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port: sc.port("http"), ca: ca.bundlePem, cert: client.chainPem, key: client.keyPem, checkServerIdentity: () => undefined }, () => {
        resolve(s.getPeerX509Certificate()?.subjectAltName);
        s.destroy();
      });
      s.on("error", reject);
    });
    expect(served).toBe(`URI:${ID.self}`);
  });

  // Each case: how to make the client's identity, and the result it must be counted as.
  const refusals: { name: string; result: string; identity: () => Promise<{ chainPem: string; keyPem: string } | undefined> }[] = [
    { name: "a client without a certificate", result: "no_peer_certificate", identity: async () => undefined },
    {
      name: "a certificate from another CA",
      result: "untrusted",
      identity: async () => (await TestCa.create({ trustDomain: TD })).issue(ID.frontend),
    },
    {
      name: "an expired certificate",
      result: "expired",
      identity: () => ca.issue(ID.frontend, { notBefore: new Date(Date.now() - 7_200_000), lifetimeMs: 3_600_000 }),
    },
    {
      name: "a certificate that is not yet valid",
      result: "expired",
      identity: () => ca.issue(ID.frontend, { notBefore: new Date(Date.now() + 3_600_000) }),
    },
    {
      name: "an SVID from another trust domain",
      result: "invalid_svid",
      identity: () => ca.issue("spiffe://evil.org/ns/web/sa/frontend"),
    },
    { name: "a leaf with cA=true", result: "invalid_svid", identity: () => ca.issue(ID.frontend, { isCa: true }) },
    { name: "a leaf with keyCertSign", result: "invalid_svid", identity: () => ca.issue(ID.frontend, { keyCertSign: true }) },
    {
      name: "a leaf with two URI SANs",
      result: "invalid_svid",
      identity: () => ca.issue(ID.frontend, { uris: [ID.frontend, ID.opsTool] }),
    },
    {
      name: "a leaf whose URI is not a SPIFFE ID",
      result: "invalid_svid",
      identity: () => ca.issue(ID.frontend, { uris: ["https://example.org/ns/web/sa/frontend"] }),
    },
    { name: "a peer whose ID is not in the policy", result: "wrong_peer", identity: () => ca.issue(ID.stranger) },
    { name: "a peer listed under deny (deny beats the ns/web/** allow)", result: "wrong_peer", identity: () => ca.issue(ID.legacy) },
  ];

  for (const c of refusals) {
    it(`refuses ${c.name} without reaching the app (counted as ${c.result})`, async () => {
      const identity = await c.identity();
      const before = { connections: backend.connections, bytes: backend.bytes, count: await handshakes(c.result) };
      const res = await tlsExchange(sc.port("http"), { identity, bundlePem: ca.bundlePem, data: "secret request", waitMs: 3_000 });
      expect(res.closed).toBe(true);
      expect(res.received).toBe("");
      await waitFor("the refusal to be counted", async () => (await handshakes(c.result)) === before.count + 1);
      expect(backend.connections).toBe(before.connections);
      expect(backend.bytes).toBe(before.bytes);
    });
  }

  it("logs one line per refused connection with the peer, the reason and the deciding rule", async () => {
    const denied = logsWith(sc.logs, "refused connection").filter((l) => l.peer === ID.legacy);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ listener: "http", result: "wrong_peer", rule: ID.legacy, level: 30 });
    const notInPolicy = logsWith(sc.logs, "refused connection").filter((l) => l.peer === ID.stranger);
    expect(notInPolicy[0]).toMatchObject({ rule: "default" });
  });

  it("counts denials by rule and never uses a raw peer ID as a label", async () => {
    expect(
      await metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision: "deny", rule: ID.legacy }),
    ).toBe(1);
    expect(
      await metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision: "deny", rule: "default" }),
    ).toBe(1);
    const text = await sc.sidecar.registry.metrics();
    expect(text).not.toContain(ID.stranger);
  });
});
