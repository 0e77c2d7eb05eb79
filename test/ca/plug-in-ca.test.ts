/**
 * mesh-ca on an existing PKI ("plug-in CA"): it signs with an intermediate,
 * appends the intermediates to every SVID and its own serving certificate,
 * and publishes only the roots.
 */
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaError } from "../../ca/errors.js";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { createEmptyTokenStore, updateTokenStore } from "../../ca/tokens/store.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { TestCa } from "../helpers/test-ca.js";
import { call, configFor, expectIssued, makeCsr, requestSvid, startTestServer, tempDir } from "./support.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let root: TestCa;
let mid: TestCa;
let issuing: TestCa;

beforeAll(async () => {
  dir = await tempDir("ca-plugin-");
  root = await TestCa.create({ trustDomain: "example.org" });
  mid = await root.intermediate();
  issuing = await mid.intermediate();
  await writeFile(join(dir.path, "issuing.crt"), issuing.certPem);
  await writeFile(join(dir.path, "issuing.key"), issuing.keyPem, { mode: 0o600 });
  await writeFile(join(dir.path, "chain.pem"), mid.certPem);
  await writeFile(join(dir.path, "roots.pem"), root.certPem);
  await createEmptyTokenStore(join(dir.path, "tokens.json"));
});

afterAll(async () => {
  await dir?.cleanup();
});

const signing = (chain: boolean): string => `signing:
  certFile: issuing.crt
  keyFile: issuing.key
${chain ? "  chainFile: chain.pem\n" : ""}  bundleFile: roots.pem
attestation:
  joinTokens:
    storeFile: tokens.json
`;

describe("a plug-in CA", () => {
  it("issues SVIDs whose chain carries the intermediates, verified against the root alone", async () => {
    const ca = await startTestServer(configFor(dir.path, signing(true)));
    try {
      const made = generateJoinToken();
      await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
        records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse("spiffe://example.org/vm/db"), createdAt: new Date(), expiresAt: new Date(Date.now() + 60_000), usesLeft: 1, revoked: false });
      });
      const body = await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: made.token }), "spiffe://example.org/vm/db", root.certPem);
      expect(body.certChain.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      expect(body.certChain).toContain(issuing.certPem.trim());
      expect(body.certChain).toContain(mid.certPem.trim());
      expect((await call(ca.server, { method: "GET", path: "/v1/bundle" })).text).toBe(root.certPem);
      // The serving certificate's chain lets a client that trusts only the root connect (call() did).
      expect(ca.server.servingCertificatePem().match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      // /status tells the signer, the intermediate above it and the root apart.
      type Named = { sha256: string };
      const status = (await (await fetch(`${ca.server.adminUrl}/status`)).json()) as { signingCertificate: Named; intermediates: Named[]; bundle: { roots: Named[] } };
      const sha256 = (pem: string): string => new X509Certificate(pem).fingerprint256;
      expect(status.signingCertificate.sha256).toBe(sha256(issuing.certPem));
      expect(status.intermediates.map((c) => c.sha256)).toEqual([sha256(mid.certPem)]);
      expect(status.bundle.roots.map((c) => c.sha256)).toEqual([sha256(root.certPem)]);
    } finally {
      await ca.stop();
    }
  });

  it("refuses to start when the intermediates between the signer and the roots are missing", async () => {
    await expect(startTestServer(configFor(dir.path, signing(false)))).rejects.toSatisfy(
      (err: unknown) => err instanceof CaError && err.code === "CA_SIGNING_MATERIAL_INVALID" && /chainFile/.test(err.message),
    );
  });
});
