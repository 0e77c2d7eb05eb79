/**
 * Every SVID the API returns has passed lib/spiffe checkIssuedSvid with the
 * attested ID and the trust domain; one that fails is never returned: the
 * caller gets 500 INTERNAL, the log an error with the broken rule. The
 * signing template cannot be made to produce a bad certificate, so the check
 * is wrapped: it records what it was asked and refuses one chosen ID.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { updateTokenStore } from "../../ca/tokens/store.js";
import { SvidError, SvidErrorCode } from "../../lib/spiffe/errors.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { configFor, expectIssued, expectRefusal, initCaDir, makeCsr, metricValue, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";

const REFUSED_ID = "spiffe://example.org/ns/broken/sa/refused";
const checked = vi.hoisted(() => [] as { serial: string; expectedId: string | undefined; trustDomain: string | undefined }[]);

vi.mock(import("../../lib/spiffe/svid.js"), async (importOriginal) => {
  const real = await importOriginal();
  const { readCertificateView } = await import("../../lib/spiffe/certificate-view.js");
  return {
    ...real,
    checkIssuedSvid: (cert, opts) => {
      const der = cert instanceof Uint8Array ? cert : new Uint8Array(0);
      checked.push({
        serial: der.length > 0 ? Buffer.from(readCertificateView(der).serial).toString("hex") : "not DER",
        expectedId: opts.expectedId?.toString(),
        trustDomain: opts.trustDomain?.name,
      });
      if (opts.expectedId?.toString() === REFUSED_ID) throw new SvidError(SvidErrorCode.EKU, "test: refused by the wrapped check");
      return real.checkIssuedSvid(cert, opts);
    },
  };
});

let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: TestCaServer;

async function joinToken(id: string): Promise<string> {
  const made = generateJoinToken();
  await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
    records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse(id), createdAt: new Date(), expiresAt: new Date(Date.now() + 3600_000), usesLeft: 10, revoked: false });
  });
  return made.token;
}

beforeAll(async () => {
  dir = await tempDir("ca-check-");
  await initCaDir(dir.path);
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\n"));
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

describe("the CA checks every SVID before returning it", () => {
  it("runs checkIssuedSvid on the DER of each issued SVID with the attested ID and the trust domain", async () => {
    const id = "spiffe://example.org/vm/checked";
    const token = await joinToken(id);
    checked.length = 0;
    for (let i = 0; i < 2; i++) await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), id, ca.bundlePem);
    const serials = ca.logs.events("svid_issued").slice(-2).map((l) => l.serial);
    // expectIssued runs checkIssuedSvid itself, without expectedId; the server's calls carry it.
    const server = checked.filter((c) => c.expectedId !== undefined);
    expect(server).toEqual(serials.map((serial) => ({ serial, expectedId: id, trustDomain: "example.org" })));
  });

  it("answers 500 INTERNAL, logs the broken rule and returns no certificate when the check fails", async () => {
    const token = await joinToken(REFUSED_ID);
    const issuedBefore = ca.logs.events("svid_issued").length;
    const answer = await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token });
    expectRefusal(answer, 500, "INTERNAL");
    expect(answer.text).not.toContain("BEGIN CERTIFICATE");
    expect(answer.text).not.toContain("SVID_EKU");
    expect(ca.logs.events("svid_issued")).toHaveLength(issuedBefore);
    const logged = ca.logs.events("svid_refused").at(-1);
    expect(logged).toMatchObject({ code: "INTERNAL", method: "join_token", level: 50 }); // 50: pino's "error"
    expect(JSON.stringify(logged)).toContain("refused by the wrapped check");
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="join_token",result="error"}')).toBe(1);
  });
});
