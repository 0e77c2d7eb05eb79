import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import { beforeAll, describe, it, expect } from "vitest";
import { TestCa } from "../../test/helpers/test-ca.js";
import { TrustBundle } from "./bundle.js";
import { type CertificateInput, certificatesFromPem, toNodeCertificate } from "./certificates.js";
import { MAX_CHAIN_LENGTH, verifyChain } from "./chain.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import { TrustDomain } from "./id.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const HOUR = 3600_000;
const ID = "spiffe://example.org/ns/shop/sa/orders";
const td = TrustDomain.parse("example.org");
const caTime = { notBefore: new Date(NOW.getTime() - 24 * HOUR), lifetimeMs: 365 * 24 * HOUR };
const leafTime = { notBefore: new Date(NOW.getTime() - 30_000), lifetimeMs: HOUR };

let root: TestCa;
let inter: TestCa;
let bundle: TrustBundle;

beforeAll(async () => {
  root = await TestCa.create(caTime);
  inter = await root.intermediate(caTime);
  bundle = TrustBundle.fromPem(td, root.bundlePem);
});

function fingerprint(cert: CertificateInput): string {
  return toNodeCertificate(cert).fingerprint256;
}

function codeOf(leaf: CertificateInput, intermediates: CertificateInput[], b: TrustBundle = bundle, now = NOW): string {
  try {
    verifyChain(leaf, intermediates, b, now);
    return "accepted";
  } catch (err) {
    if (err instanceof SvidError) return err.code;
    throw err;
  }
}

describe("verifyChain", () => {
  it("returns leaf and root for a leaf signed by the root", async () => {
    const svid = await root.issue(ID, leafTime);
    const path = verifyChain(svid.cert, [], bundle, NOW);
    expect(path.map(fingerprint)).toEqual([svid.cert, root.cert].map(fingerprint));
  });

  it("builds the path through intermediates given in any order, ignoring unrelated ones", async () => {
    const second = await inter.intermediate(caTime);
    const stranger = await (await TestCa.create(caTime)).intermediate(caTime);
    const svid = await second.issue(ID, leafTime);
    const pool = [stranger.cert, inter.cert, second.cert];
    const path = verifyChain(svid.cert, pool, bundle, NOW);
    expect(path.map(fingerprint)).toEqual([svid.cert, second.cert, inter.cert, root.cert].map(fingerprint));
  });

  it("accepts the leaf and intermediates as DER, node or @peculiar certificates, or parsed from the chain PEM", async () => {
    const svid = await inter.issue(ID, leafTime);
    const [leaf, ...intermediates] = certificatesFromPem(svid.chainPem);
    expect(intermediates).toHaveLength(1);
    expect(verifyChain(leaf as NodeX509Certificate, intermediates, bundle, NOW)).toHaveLength(3);
    expect(verifyChain(Buffer.from(svid.cert.rawData), [inter.cert], bundle, NOW)).toHaveLength(3);
  });

  it("refuses a leaf from another CA as untrusted", async () => {
    const other = await TestCa.create(caTime);
    expect(codeOf((await other.issue(ID, leafTime)).cert, [])).toBe(SvidErrorCode.UNTRUSTED);
  });

  it("refuses a leaf whose intermediate is missing", async () => {
    expect(codeOf((await inter.issue(ID, leafTime)).cert, [])).toBe(SvidErrorCode.UNTRUSTED);
  });

  it("refuses a forged leaf that names the root as issuer but is signed by another key", async () => {
    // Same subject DN as our root and no AKI, so only the signature check tells them apart.
    const impostor = await TestCa.create(caTime);
    expect(impostor.cert.subject).toBe(root.cert.subject);
    const forged = await impostor.issue(ID, { ...leafTime, noKeyIdentifiers: true });
    expect(codeOf(forged.cert, [])).toBe(SvidErrorCode.UNTRUSTED);
  });

  it("refuses an intermediate that is not a CA", async () => {
    const notCa = await root.intermediate({ ...caTime, isCa: false });
    expect(codeOf((await notCa.issue(ID, leafTime)).cert, [notCa.cert])).toBe(SvidErrorCode.UNTRUSTED);
  });

  it("refuses an expired or not yet valid leaf", async () => {
    const svid = await root.issue(ID, leafTime);
    expect(codeOf(svid.cert, [], bundle, new Date(NOW.getTime() + 2 * HOUR))).toBe(SvidErrorCode.EXPIRED);
    expect(codeOf(svid.cert, [], bundle, new Date(NOW.getTime() - HOUR))).toBe(SvidErrorCode.NOT_YET_VALID);
  });

  it("refuses a path through an expired intermediate", async () => {
    const old = await root.intermediate({ notBefore: new Date(NOW.getTime() - 3 * HOUR), lifetimeMs: HOUR });
    const svid = await old.issue(ID, leafTime);
    expect(codeOf(svid.cert, [old.cert])).toBe(SvidErrorCode.EXPIRED);
  });

  it("refuses a path to an expired root", async () => {
    const oldRoot = await TestCa.create({ notBefore: new Date(NOW.getTime() - 3 * HOUR), lifetimeMs: HOUR });
    const svid = await oldRoot.issue(ID, leafTime);
    const oldBundle = TrustBundle.fromPem(td, oldRoot.bundlePem);
    expect(codeOf(svid.cert, [], oldBundle)).toBe(SvidErrorCode.EXPIRED);
  });

  it(`finds paths of up to ${MAX_CHAIN_LENGTH} certificates and no longer`, async () => {
    const chain = [inter];
    // leaf + intermediates + root = MAX_CHAIN_LENGTH
    while (chain.length < MAX_CHAIN_LENGTH - 2) chain.push(await (chain[chain.length - 1] as TestCa).intermediate(caTime));
    const deepest = chain[chain.length - 1] as TestCa;
    const okLeaf = await deepest.issue(ID, leafTime);
    expect(verifyChain(okLeaf.cert, deepest.intermediates, bundle, NOW)).toHaveLength(MAX_CHAIN_LENGTH);
    const tooDeep = await deepest.intermediate(caTime);
    const longLeaf = await tooDeep.issue(ID, leafTime);
    expect(codeOf(longLeaf.cert, tooDeep.intermediates)).toBe(SvidErrorCode.UNTRUSTED);
  });
});
