import { beforeAll, describe, it, expect } from "vitest";
import { TestCa, type IssueOptions } from "../../test/helpers/test-ca.js";
import { x509 } from "../x509.js";
import { verifyChain } from "./chain.js";
import { TrustBundle } from "./bundle.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import { SpiffeId, TrustDomain } from "./id.js";
import { checkIssuedSvid, checkLeafSvid, checkSigningCertificate, newSerialNumberHex, type SvidUsage } from "./svid.js";
import { thrownCode } from "../../test/helpers/error-code.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const HOUR = 3600_000;
const ID = "spiffe://example.org/ns/shop/sa/orders";
const td = TrustDomain.parse("example.org");
const good = { notBefore: new Date(NOW.getTime() - 30_000), lifetimeMs: HOUR };

let root: TestCa;
let inter: TestCa;

beforeAll(async () => {
  const caTime = { notBefore: new Date(NOW.getTime() - 24 * HOUR), lifetimeMs: 365 * 24 * HOUR };
  root = await TestCa.create({ trustDomain: "example.org", ...caTime });
  inter = await root.intermediate(caTime);
});

async function leaf(opts: IssueOptions = {}, id = ID): Promise<x509.X509Certificate> {
  return (await root.issue(id, { ...good, ...opts })).cert;
}

const codeOf = (fn: () => unknown): string => thrownCode(SvidError, fn);

const leafCode = (cert: x509.X509Certificate, usage?: SvidUsage): string =>
  codeOf(() => checkLeafSvid(cert, { now: NOW, trustDomain: td, ...(usage ? { usage } : {}) }));
const issuedCode = (cert: x509.X509Certificate): string => codeOf(() => checkIssuedSvid(cert, { now: NOW, trustDomain: td }));

describe("checkLeafSvid: good SVIDs", () => {
  it("accepts a good SVID from the root and returns its ID", async () => {
    const id = checkLeafSvid(await leaf(), { now: NOW, trustDomain: td, usage: "client" });
    expect(id.toString()).toBe(ID);
  });

  it("accepts a good SVID issued by an intermediate, whose chain verifies", async () => {
    const svid = await inter.issue(ID, good);
    expect(checkLeafSvid(svid.cert, { now: NOW, trustDomain: td, usage: "server" }).toString()).toBe(ID);
    const bundle = TrustBundle.fromPem(td, svid.bundlePem);
    expect(verifyChain(svid.cert, inter.intermediates, bundle, NOW)).toHaveLength(3);
  });

  it("accepts P-384 and RSA leaves", async () => {
    expect(leafCode(await leaf({ keyAlgorithm: "ec-p384" }))).toBe("accepted");
    expect(leafCode(await leaf({ keyAlgorithm: "rsa-2048" }))).toBe("accepted");
  });

  it("accepts a subject with a non-critical SAN, and extra DNS SANs", async () => {
    expect(leafCode(await leaf({ subject: "CN=orders", sanCritical: false, dnsNames: ["orders.local"] }))).toBe("accepted");
  });

  it("accepts a leaf without BasicConstraints or EKU as a verifier (RFC 5280 defaults)", async () => {
    expect(leafCode(await leaf({ noBasicConstraints: true }))).toBe("accepted");
    expect(leafCode(await leaf({ eku: null }), "client")).toBe("accepted");
  });

  it("accepts the first and the last instant of validity", async () => {
    const cert = await leaf({ notBefore: NOW, lifetimeMs: HOUR });
    expect(codeOf(() => checkLeafSvid(cert, { now: NOW }))).toBe("accepted");
    expect(codeOf(() => checkLeafSvid(cert, { now: new Date(NOW.getTime() + HOUR) }))).toBe("accepted");
  });

  it("checks the expected ID", async () => {
    const cert = await leaf();
    expect(checkLeafSvid(cert, { now: NOW, expectedId: SpiffeId.parse(ID) }).toString()).toBe(ID);
    const other = SpiffeId.parse("spiffe://example.org/ns/shop/sa/payments");
    expect(codeOf(() => checkLeafSvid(cert, { now: NOW, expectedId: other }))).toBe(SvidErrorCode.WRONG_ID);
  });
});

describe("checkLeafSvid: each broken rule has its own code", () => {
  const cases: [string, IssueOptions, string, string?][] = [
    ["a leaf with cA=true", { isCa: true }, SvidErrorCode.CA_LEAF],
    ["a leaf with keyCertSign", { keyCertSign: true }, SvidErrorCode.KEY_CERT_SIGN],
    ["a leaf with cRLSign", { crlSign: true }, SvidErrorCode.CRL_SIGN],
    ["a leaf without digitalSignature", { noDigitalSignature: true }, SvidErrorCode.NO_DIGITAL_SIGNATURE],
    ["a leaf without KeyUsage", { noKeyUsage: true }, SvidErrorCode.NO_KEY_USAGE],
    ["a leaf with non-critical KeyUsage", { keyUsageCritical: false }, SvidErrorCode.KEY_USAGE_NOT_CRITICAL],
    ["two URI SANs", { uris: ["spiffe://example.org/a", "spiffe://example.org/b"] }, SvidErrorCode.MULTIPLE_URI_SANS],
    ["a non-spiffe URI SAN", { uris: ["https://example.org/a"] }, SvidErrorCode.INVALID_SPIFFE_ID],
    ["a malformed SPIFFE ID", { uris: ["spiffe://Example.org/a"] }, SvidErrorCode.INVALID_SPIFFE_ID],
    ["no URI SAN", { uris: [], dnsNames: ["orders.local"] }, SvidErrorCode.NO_URI_SAN],
    ["no SAN extension at all", { uris: [], subject: "CN=orders" }, SvidErrorCode.NO_URI_SAN],
    ["an empty subject with a non-critical SAN", { sanCritical: false }, SvidErrorCode.EMPTY_SUBJECT_SAN_NOT_CRITICAL],
    ["an expired leaf", { notBefore: new Date(NOW.getTime() - 2 * HOUR) }, SvidErrorCode.EXPIRED],
    ["a leaf not yet valid", { notBefore: new Date(NOW.getTime() + 60_000) }, SvidErrorCode.NOT_YET_VALID],
    ["an EKU without clientAuth", { eku: ["serverAuth"] }, SvidErrorCode.EKU, "client"],
    ["an EKU without serverAuth", { eku: ["clientAuth"] }, SvidErrorCode.EKU, "server"],
    ["a short serial", { serialHex: "01" }, SvidErrorCode.SERIAL],
  ];

  it.each(cases)("refuses %s", async (_name, opts, code, usage) => {
    expect(leafCode(await leaf(opts), usage as SvidUsage | undefined)).toBe(code);
  });

  it("refuses a root (path-less) ID", async () => {
    expect(leafCode(await leaf({}, "spiffe://example.org"))).toBe(SvidErrorCode.ROOT_ID);
  });

  it("refuses an ID from another trust domain, but only when a trust domain is given", async () => {
    const cert = await leaf({}, "spiffe://other.org/ns/a/sa/b");
    expect(leafCode(cert)).toBe(SvidErrorCode.WRONG_TRUST_DOMAIN);
    expect(codeOf(() => checkLeafSvid(cert, { now: NOW }))).toBe("accepted");
  });

  it("refuses a second SAN extension (a second, hidden ID)", async () => {
    const second = new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://example.org/admin" }], true);
    expect(leafCode(await leaf({ extraExtensions: [second] }))).toBe(SvidErrorCode.DUPLICATE_EXTENSION);
  });

  it("refuses an undecodable extension as malformed", async () => {
    const junk = new x509.Extension("2.5.29.19", true, new Uint8Array([0x04, 0x01, 0x00]));
    expect(leafCode(await leaf({ noBasicConstraints: true, extraExtensions: [junk] }))).toBe(SvidErrorCode.MALFORMED);
  });

  it("refuses a negative serial", async () => {
    const serialHex = "7f" + "ab".repeat(16);
    const cert = await leaf({ serialHex });
    const der = Buffer.from(cert.rawData);
    const at = der.indexOf(Buffer.from(serialHex, "hex"));
    expect(at).toBeGreaterThan(0);
    der[at] = 0xff; // two's complement: now negative; the signature no longer matters here
    expect(leafCode(new x509.X509Certificate(der))).toBe(SvidErrorCode.SERIAL);
  });

  it("accepts either purpose for usage any, but not an EKU with neither", async () => {
    expect(leafCode(await leaf({ eku: ["serverAuth"] }), "any")).toBe("accepted");
    expect(leafCode(await leaf({ eku: ["clientAuth"] }), "any")).toBe("accepted");
    const codeSigning = new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]);
    expect(leafCode(await leaf({ eku: null, extraExtensions: [codeSigning] }), "any")).toBe(SvidErrorCode.EKU);
  });

  it("states the broken rule in the message", async () => {
    const caLeaf = await leaf({ isCa: true });
    const signer = await leaf({ keyCertSign: true });
    expect(() => checkLeafSvid(caLeaf, { now: NOW })).toThrow(/cA=false/);
    expect(() => checkLeafSvid(signer, { now: NOW })).toThrow(/must not have keyCertSign/);
  });
});

describe("checkIssuedSvid: the CA's issuance profile", () => {
  it("accepts the helper's good leaf and returns its ID", async () => {
    expect(checkIssuedSvid(await leaf(), { now: NOW, trustDomain: td }).toString()).toBe(ID);
    expect(issuedCode(await leaf({ keyAlgorithm: "rsa-2048" }))).toBe("accepted");
  });

  it("applies every leaf rule", async () => {
    expect(issuedCode(await leaf({ isCa: true }))).toBe(SvidErrorCode.CA_LEAF);
    expect(issuedCode(await leaf({}, "spiffe://other.org/a"))).toBe(SvidErrorCode.WRONG_TRUST_DOMAIN);
  });

  it("requires a critical BasicConstraints extension", async () => {
    expect(issuedCode(await leaf({ noBasicConstraints: true }))).toBe(SvidErrorCode.BASIC_CONSTRAINTS);
    expect(issuedCode(await leaf({ basicConstraintsCritical: false }))).toBe(SvidErrorCode.BASIC_CONSTRAINTS);
  });

  it("requires the EKU with both serverAuth and clientAuth", async () => {
    expect(issuedCode(await leaf({ eku: null }))).toBe(SvidErrorCode.EKU);
    expect(issuedCode(await leaf({ eku: ["serverAuth"] }))).toBe(SvidErrorCode.EKU);
    expect(issuedCode(await leaf({ eku: ["clientAuth"] }))).toBe(SvidErrorCode.EKU);
  });

  it("requires subject and authority key identifiers", async () => {
    expect(issuedCode(await leaf({ noKeyIdentifiers: true }))).toBe(SvidErrorCode.MISSING_KEY_IDENTIFIER);
  });

  it("requires a serial of at least 128 bits, which a verifier does not", async () => {
    expect(leafCode(await leaf({ serialHex: "7f" + "ab".repeat(7) }))).toBe(SvidErrorCode.SERIAL); // 63 bits
    const serial64 = await leaf({ serialHex: "ff" + "ab".repeat(7) });
    expect(leafCode(serial64)).toBe("accepted");
    expect(issuedCode(serial64)).toBe(SvidErrorCode.SERIAL);
    const serial128 = await leaf({ serialHex: "80" + "ab".repeat(15) });
    expect(issuedCode(serial128)).toBe("accepted");
  });
});

describe("newSerialNumberHex", () => {
  it("makes a positive 129-bit serial holding 128 random bits", () => {
    const serial = newSerialNumberHex(() => new Uint8Array(16).fill(0xff));
    expect(serial).toBe("01" + "ff".repeat(16));
    expect(newSerialNumberHex()).not.toBe(newSerialNumberHex());
  });
});

describe("checkSigningCertificate", () => {
  const opts = { now: NOW, trustDomain: td };

  it("accepts the root and an intermediate and returns the trust domain ID", () => {
    expect(checkSigningCertificate(root.cert, opts)?.toString()).toBe("spiffe://example.org");
    expect(checkSigningCertificate(inter.cert, opts)?.toString()).toBe("spiffe://example.org");
  });

  it("accepts a signing certificate without a URI SAN", async () => {
    const plain = await TestCa.create({ uri: null, notBefore: new Date(NOW.getTime() - HOUR) });
    expect(checkSigningCertificate(plain.cert, opts)).toBeUndefined();
  });

  it("refuses a certificate that is not a CA", async () => {
    const good = await leaf();
    expect(codeOf(() => checkSigningCertificate(good, opts))).toBe(SvidErrorCode.SIGNING_CERT_NOT_CA);
    const fake = await TestCa.create({ isCa: false, notBefore: new Date(NOW.getTime() - HOUR) });
    expect(codeOf(() => checkSigningCertificate(fake.cert, opts))).toBe(SvidErrorCode.SIGNING_CERT_NOT_CA);
  });

  it("refuses a CA without keyCertSign", async () => {
    const caLeaf = await leaf({ isCa: true });
    expect(codeOf(() => checkSigningCertificate(caLeaf, opts))).toBe(SvidErrorCode.SIGNING_CERT_NO_KEY_CERT_SIGN);
  });

  it("refuses a signing certificate whose ID has a path", async () => {
    const withPath = await TestCa.create({ uri: "spiffe://example.org/ca", notBefore: new Date(NOW.getTime() - HOUR) });
    expect(codeOf(() => checkSigningCertificate(withPath.cert, opts))).toBe(SvidErrorCode.SIGNING_CERT_PATH);
  });

  it("refuses a signing certificate of another trust domain", async () => {
    const other = await TestCa.create({ trustDomain: "other.org", notBefore: new Date(NOW.getTime() - HOUR) });
    expect(codeOf(() => checkSigningCertificate(other.cert, opts))).toBe(SvidErrorCode.WRONG_TRUST_DOMAIN);
  });

  it("refuses a signing certificate with a non-SPIFFE URI", async () => {
    const other = await TestCa.create({ uri: "https://ca.example.org", notBefore: new Date(NOW.getTime() - HOUR) });
    expect(codeOf(() => checkSigningCertificate(other.cert, opts))).toBe(SvidErrorCode.INVALID_SPIFFE_ID);
  });

  it("refuses an expired or not yet valid signing certificate", async () => {
    const old = await TestCa.create({ notBefore: new Date(NOW.getTime() - 2 * HOUR), lifetimeMs: HOUR });
    expect(codeOf(() => checkSigningCertificate(old.cert, opts))).toBe(SvidErrorCode.EXPIRED);
    const future = await TestCa.create({ notBefore: new Date(NOW.getTime() + HOUR) });
    expect(codeOf(() => checkSigningCertificate(future.cert, opts))).toBe(SvidErrorCode.NOT_YET_VALID);
  });
});
