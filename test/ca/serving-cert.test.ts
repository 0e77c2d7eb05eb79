/**
 * The API's own serving certificate is renewed before it expires and
 * swapped into the running server: new connections get the new certificate
 * without a restart, and keep working against the same bundle.
 */
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { configFor, expectIssued, initCaDir, makeCsr, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { updateTokenStore } from "../../ca/tokens/store.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { join } from "node:path";

let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: TestCaServer;

function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: ca.server.apiAddress.port, ca: ca.bundlePem, servername: "localhost" }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? "";
      socket.end();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  dir = await tempDir("ca-serving-");
  await initCaDir(dir.path);
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\n"), { servingCertLifetimeMs: 10_000 });
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

describe("the API serving certificate", () => {
  it("is renewed half way through its life and new connections get the new one", async () => {
    const first = await servedFingerprint();
    const firstPem = ca.server.servingCertificatePem();
    await waitFor("serving certificate renewal", () => ca.server.servingCertificatePem() !== firstPem, { timeoutMs: 15_000, intervalMs: 200 });
    const second = await servedFingerprint();
    expect(second).not.toBe(first);
    expect(ca.logs.lines.some((l) => l.msg === "renewed the API serving certificate")).toBe(true);

    const made = generateJoinToken();
    await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
      records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse("spiffe://example.org/vm/x"), createdAt: new Date(), expiresAt: new Date(Date.now() + 60_000), usesLeft: 1, revoked: false });
    });
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: made.token }), "spiffe://example.org/vm/x", ca.bundlePem);
  });
});
