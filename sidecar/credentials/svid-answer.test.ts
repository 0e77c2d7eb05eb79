import { beforeAll, describe, expect, it } from "vitest";
import { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { answerFor } from "../../test/sidecar/fake-ca.js";
import type { SvidAnswer } from "./ca-client.js";
import { SidecarError } from "../errors.js";
import { validateSvidAnswer } from "./svid-answer.js";
import { WorkloadKey } from "./workload-key.js";

const TD = TrustDomain.parse("example.org");
const ID = "spiffe://example.org/ns/shop/sa/orders";
let root: TestCa;
let issuer: TestCa;
let key: WorkloadKey;
let good: SvidAnswer;

beforeAll(async () => {
  root = await TestCa.create({ trustDomain: "example.org" });
  issuer = await root.intermediate();
  key = await WorkloadKey.generate();
  good = await answerFor(issuer, await key.csrPem(), ID, 3_600_000);
});

function check(answer: SvidAnswer, expectedId?: string) {
  return validateSvidAnswer(answer, { key, trustDomain: TD, now: new Date(), ...(expectedId ? { expectedId: SpiffeId.parse(expectedId) } : {}) });
}

function refusal(answer: SvidAnswer, expectedId?: string): string {
  try {
    check(answer, expectedId);
  } catch (err) {
    if (err instanceof SidecarError) {
      expect(err.code).toBe("SIDECAR_SVID_INVALID");
      return err.message;
    }
    throw err;
  }
  throw new Error("expected the answer to be refused");
}

/** An answer whose leaf is a TestCa leaf (with its own key), for rules checked before the key. */
async function withLeaf(opts: Parameters<TestCa["issue"]>[1], id = ID): Promise<SvidAnswer> {
  const leaf = await issuer.issue(id, opts);
  return { ...good, spiffeId: id, certChain: leaf.chainPem };
}

describe("validateSvidAnswer", () => {
  it("accepts a good answer: leaf + intermediate chaining to the bundle, for our key", () => {
    const { svid, bundle } = check(good, ID);
    expect(svid.id.toString()).toBe(ID);
    expect(svid.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(svid.notAfter.getTime()).toBeGreaterThan(Date.now());
    expect(bundle.roots).toHaveLength(1);
  });

  it("refuses a certificate for another key than ours", async () => {
    const other = await WorkloadKey.generate();
    expect(refusal(await answerFor(issuer, await other.csrPem(), ID, 3_600_000))).toContain("public key is not ours");
  });

  it("refuses leaves that break an SVID rule", async () => {
    expect(refusal(await withLeaf({ isCa: true }))).toContain("SVID_CA_LEAF");
    expect(refusal(await withLeaf({ keyCertSign: true }))).toContain("SVID_KEY_CERT_SIGN");
    expect(refusal(await withLeaf({ eku: ["serverAuth"] }))).toContain("SVID_EKU");
    expect(refusal(await withLeaf({ notBefore: new Date(Date.now() - 7_200_000), lifetimeMs: 3_600_000 }))).toContain("SVID_EXPIRED");
    expect(refusal(await withLeaf({}, "spiffe://other.org/ns/shop/sa/orders"))).toContain("SVID_WRONG_TRUST_DOMAIN");
  });

  it("refuses an ID other than the expected one", () => {
    expect(refusal(good, "spiffe://example.org/ns/shop/sa/billing")).toContain("SVID_WRONG_ID");
  });

  it("refuses an answer whose spiffeId field disagrees with the certificate", () => {
    expect(refusal({ ...good, spiffeId: "spiffe://example.org/ns/x/sa/y" })).toContain("the answer says spiffeId");
  });

  it("refuses a chain that does not lead to the bundle", async () => {
    const stranger = await TestCa.create({ trustDomain: "example.org" });
    expect(refusal({ ...good, bundle: stranger.bundlePem })).toContain("SVID_UNTRUSTED");
    // Leaf without its intermediate: no path to the root.
    expect(refusal({ ...good, certChain: good.certChain.slice(0, good.certChain.indexOf("-----END CERTIFICATE-----") + 26) })).toContain("SVID_UNTRUSTED");
  });

  it("refuses a bundle that is not CA roots, and text that is not PEM", async () => {
    const leaf = await issuer.issue(ID);
    expect(refusal({ ...good, bundle: leaf.certPem })).toContain("BUNDLE_NOT_CA");
    expect(refusal({ ...good, certChain: "not a certificate" })).toContain("SVID_MALFORMED");
  });
});
