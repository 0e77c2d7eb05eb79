/**
 * Renewal with the caller's current SVID as TLS client certificate: the
 * same ID only, the certificate judged by OpenSSL against the bundle and by
 * every lib/spiffe leaf rule. The CA here signs with a TestCa root written
 * to files, so the test can also make deliberately broken SVIDs of "our" CA.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../helpers/test-ca.js";
import { configFor, expectIssued, expectRefusal, makeCsr, metricValue, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";
import { createEmptyTokenStore } from "../../ca/tokens/store.js";

const ORDERS = "spiffe://example.org/ns/shop/sa/orders";
let dir: Awaited<ReturnType<typeof tempDir>>;
let root: TestCa;
let ca: TestCaServer;

beforeAll(async () => {
  dir = await tempDir("ca-renewal-");
  root = await TestCa.create({ trustDomain: "example.org" });
  await writeFile(join(dir.path, "ca.crt"), root.certPem);
  await writeFile(join(dir.path, "ca.key"), root.keyPem, { mode: 0o600 });
  await writeFile(join(dir.path, "bundle.pem"), root.bundlePem);
  await createEmptyTokenStore(join(dir.path, "tokens.json"));
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\nlimits: {ratePerIdentity: 1000, rateBurst: 1000}\n"));
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

async function renew(client: { keyPem: string; certPem: string }, uris?: string[]): Promise<ReturnType<typeof requestSvid>> {
  return requestSvid(ca.server, (await makeCsr(uris ? { uris } : {})).csrPem, { clientCert: client });
}

describe("renewal with the current SVID", () => {
  it("issues a new SVID for the same ID, and the new one renews in turn", async () => {
    const current = await root.issue(ORDERS);
    const csr1 = await makeCsr();
    const first = await expectIssued(
      await requestSvid(ca.server, csr1.csrPem, { clientCert: { keyPem: current.keyPem, certPem: current.chainPem } }),
      ORDERS,
      ca.bundlePem,
    );
    expect(ca.logs.events("svid_issued").at(-1)).toMatchObject({ method: "renewal", spiffeId: ORDERS, serial: expect.any(String) });

    const csr2 = await makeCsr({ uris: [ORDERS] }); // naming its own ID is allowed
    await expectIssued(await requestSvid(ca.server, csr2.csrPem, { clientCert: { keyPem: csr1.keyPem, certPem: first.certChain } }), ORDERS, ca.bundlePem);
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="renewal",result="issued"}')).toBe(2);
  });

  it("refuses a certificate from another CA with 401", async () => {
    const stranger = await (await TestCa.create({ trustDomain: "example.org" })).issue(ORDERS);
    expectRefusal(await renew({ keyPem: stranger.keyPem, certPem: stranger.chainPem }), 401, "UNAUTHENTICATED", /not a valid SVID of trust domain example.org/);
  });

  it("refuses a change of ID with 403", async () => {
    const current = await root.issue(ORDERS);
    const answer = await renew({ keyPem: current.keyPem, certPem: current.chainPem }, ["spiffe://example.org/ns/kube-system/sa/admin"]);
    expectRefusal(answer, 403, "FORBIDDEN", /URI SAN other than spiffe:\/\/example.org\/ns\/shop\/sa\/orders/);
  });

  it("refuses an expired SVID with 401", async () => {
    const expired = await root.issue(ORDERS, { notBefore: new Date(Date.now() - 2 * 3600_000), lifetimeMs: 3600_000 });
    expectRefusal(await renew({ keyPem: expired.keyPem, certPem: expired.chainPem }), 401, "UNAUTHENTICATED");
  });

  it("refuses a certificate of our CA that breaks a leaf rule OpenSSL lets through (cA=true, no URI SAN, other trust domain)", async () => {
    const broken = [
      await root.issue(ORDERS, { isCa: true }),
      await root.issue(ORDERS, { uris: [], dnsNames: ["orders.shop.svc"], subject: "CN=orders" }),
      await root.issue("spiffe://other.org/ns/shop/sa/orders"),
    ];
    for (const svid of broken) {
      const answer = await renew({ keyPem: svid.keyPem, certPem: svid.chainPem });
      expectRefusal(answer, 401, "UNAUTHENTICATED", /client certificate is not a valid SVID/);
    }
    expect(ca.logs.events("svid_refused").slice(-3).map((l) => l.svidError)).toEqual(["SVID_CA_LEAF", "SVID_NO_URI_SAN", "SVID_WRONG_TRUST_DOMAIN"]);
  });

  it("uses the bearer token, not the client certificate, when both are sent", async () => {
    const current = await root.issue(ORDERS);
    const answer = await requestSvid(ca.server, (await makeCsr()).csrPem, { clientCert: { keyPem: current.keyPem, certPem: current.chainPem }, bearer: "meshjt_unknown" });
    expectRefusal(answer, 401, "UNAUTHENTICATED", /malformed/);
  });
});
