/**
 * `GET /status` on mesh-ca's admin port: the signing certificate, the roots
 * of the bundle and the API's serving certificate by subject, serial,
 * fingerprint and validity; issuance counts by method and result; refusals
 * of the HTTP layer; start time and readiness. Never a key, a token or a
 * certificate's PEM.
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { updateTokenStore } from "../../ca/tokens/store.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { configFor, expectIssued, expectRefusal, initCaDir, makeCsr, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";

const BUILD = "spiffe://example.org/vm/build-1";
let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: TestCaServer;
let started: Date;

beforeAll(async () => {
  dir = await tempDir("ca-status-");
  await initCaDir(dir.path);
  started = new Date(Date.now() - 1000);
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\n"));
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

async function status(): Promise<{ http: number; type: string | null; text: string; json: Record<string, unknown> }> {
  const res = await fetch(`${ca.server.adminUrl}/status`);
  const text = await res.text();
  return { http: res.status, type: res.headers.get("content-type"), text, json: JSON.parse(text) as Record<string, unknown> };
}

/** What /status must say of a certificate. */
function described(cert: X509Certificate): Record<string, string> {
  return {
    subject: (cert.subject ?? "").split("\n").join(", "),
    serial: cert.serialNumber.toUpperCase(),
    sha256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

describe("mesh-ca GET /status", () => {
  it("names the signing certificate, the roots and the serving certificate, with start time and readiness", async () => {
    const root = new X509Certificate(await readFile(join(dir.path, "ca.crt")));
    const serving = new X509Certificate(ca.server.servingCertificatePem());
    const s = await status();
    expect([s.http, s.type]).toEqual([200, "application/json; charset=utf-8"]);
    expect(s.json).toMatchObject({
      program: "mesh-ca",
      version: { version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.versions.node, openssl: process.versions.openssl },
      trustDomain: "example.org",
      readiness: { ready: true },
      api: ca.server.apiUrl,
      signingCertificate: described(root),
      intermediates: [],
      bundle: { roots: [described(root)] },
      servingCertificate: described(serving),
    });
    expect((s.json.signingCertificate as { subject: string }).subject).toBe("CN=mesh-ca root, O=example.org");
    const startedAt = new Date(s.json.startedAt as string).getTime();
    expect(startedAt).toBeGreaterThanOrEqual(started.getTime());
    expect(startedAt).toBeLessThanOrEqual(Date.now());
  });

  it("counts issuance by method and result, every pair from 0, and the refusals of the HTTP layer", async () => {
    const before = (await status()).json;
    expect(before.issuance).toEqual({
      kubernetes: { issued: 0, unauthenticated: 0, forbidden: 0, invalid_csr: 0, rate_limited: 0, error: 0 },
      join_token: { issued: 0, unauthenticated: 0, forbidden: 0, invalid_csr: 0, rate_limited: 0, error: 0 },
      renewal: { issued: 0, unauthenticated: 0, forbidden: 0, invalid_csr: 0, rate_limited: 0, error: 0 },
    });
    expect(before.httpRefusals).toEqual({ HEADERS_TOO_LARGE: 0, MALFORMED_REQUEST: 0, REQUEST_TIMEOUT: 0 });

    const made = generateJoinToken();
    await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
      records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse(BUILD), createdAt: new Date(), expiresAt: new Date(Date.now() + 60_000), usesLeft: 1, revoked: false });
    });
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: made.token }), BUILD, ca.bundlePem);
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: made.token }), 401, "UNAUTHENTICATED");

    const after = await status();
    expect((after.json.issuance as Record<string, Record<string, number>>).join_token).toMatchObject({ issued: 1, unauthenticated: 1 });
    expect((after.json.issuance as Record<string, Record<string, number>>).kubernetes?.issued).toBe(0);
    // Never a token, its hash or id, a key or a PEM.
    for (const secret of [made.token, made.hash, "PRIVATE KEY", "BEGIN"]) expect(after.text).not.toContain(secret);
  });
});
