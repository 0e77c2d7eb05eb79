import { generateKeyPairSync, X509Certificate as NodeX509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TrustDomain, SpiffeId } from "../../lib/spiffe/id.js";
import { checkIssuedSvid } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { SigningAuthority, type SigningMaterial } from "./authority.js";
import { thrownCode } from "../../test/helpers/error-code.js";
import { AuthorityError, AuthorityErrorCode } from "./errors.js";
import { spkiDer, subjectPublicKeyOf } from "./keys.js";

const td = TrustDomain.parse("example.org");
const ID = SpiffeId.parse("spiffe://example.org/ns/shop/sa/orders");

function material(ca: TestCa, extra: Partial<SigningMaterial> = {}): SigningMaterial {
  return { certPem: ca.certPem, keyPem: ca.keyPem, bundlePem: ca.bundlePem, ...extra };
}

function request(now: Date, lifetimeMs = 3600_000): Parameters<SigningAuthority["issue"]>[0] {
  const spki = spkiDer(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey);
  return { id: ID, spki, subjectPublicKey: subjectPublicKeyOf(spki), lifetimeMs, backdateMs: 30_000, now };
}

describe("SigningAuthority", () => {
  it("issues from a root: backdated notBefore, requested lifetime, no intermediates in the chain", async () => {
    const ca = await TestCa.create();
    const now = new Date();
    const authority = SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now });
    const issued = authority.issueChecked(request(now));
    expect(issued.chainPem).toBe(issued.certPem);
    expect(issued.notBefore.getTime()).toBe(Math.floor((now.getTime() - 30_000) / 1000) * 1000);
    expect(issued.notAfter.getTime()).toBe(Math.floor((now.getTime() + 3600_000) / 1000) * 1000);
    const cert = new x509.X509Certificate(issued.der);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serialHex);
    expect(checkIssuedSvid(cert, { now, trustDomain: td, expectedId: ID }).equals(ID)).toBe(true);
  });

  it("as a plug-in intermediate, appends the signing certificate and the chain file's intermediates", async () => {
    const root = await TestCa.create();
    const mid = await root.intermediate();
    const issuing = await mid.intermediate();
    const now = new Date();
    const authority = SigningAuthority.fromMaterial(
      { certPem: issuing.certPem, keyPem: issuing.keyPem, chainPem: mid.certPem, bundlePem: root.certPem },
      { trustDomain: td, now },
    );
    const chain = authority.issue(request(now)).chainPem.match(/-----BEGIN CERTIFICATE-----/g);
    expect(chain).toHaveLength(3);
    expect(authority.issue(request(now)).chainPem.endsWith(mid.certPem.trim() + "\n")).toBe(true);
  });

  it("never issues past the signing certificate", async () => {
    const ca = await TestCa.create({ lifetimeMs: 2 * 3600_000 });
    const now = new Date();
    const authority = SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now });
    const issued = authority.issue(request(now, 24 * 3600_000));
    expect(issued.notAfter.getTime()).toBeLessThanOrEqual(ca.cert.notAfter.getTime());
    expect(authority.signingNotAfter.getTime()).toBe(ca.cert.notAfter.getTime());
  });

  it("refuses to sign the trust domain ID or an ID of another trust domain", async () => {
    const ca = await TestCa.create();
    const now = new Date();
    const authority = SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now });
    expect(() => authority.issue({ ...request(now), id: SpiffeId.parse("spiffe://example.org") })).toThrow(AuthorityError);
    expect(() => authority.issue({ ...request(now), id: SpiffeId.parse("spiffe://other.org/x") })).toThrow(/not a workload ID in trust domain example.org/);
  });

  it("names each refusal with its AuthorityError code", async () => {
    const ca = await TestCa.create({ lifetimeMs: 2 * 3600_000 });
    const now = new Date();
    const authority = SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now });
    const code = (fn: () => unknown): string => thrownCode(AuthorityError, fn);
    expect(code(() => authority.issue({ ...request(now), id: SpiffeId.parse("spiffe://other.org/x") }))).toBe(AuthorityErrorCode.FOREIGN_ID);
    expect(code(() => authority.issue(request(new Date(now.getTime() + 3 * 3600_000))))).toBe(AuthorityErrorCode.SIGNING_CERT_EXPIRED);
    const shortRandom = (n: number): Uint8Array => new Uint8Array(n - 1).fill(1);
    expect(code(() => SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now, random: shortRandom }))).toBe(AuthorityErrorCode.RANDOM_SOURCE);
    const notCa = await TestCa.create({ isCa: false });
    expect(code(() => SigningAuthority.fromMaterial(material(notCa), { trustDomain: td, now }))).toBe(AuthorityErrorCode.MATERIAL_INVALID);
    expect(code(() => authority.issue(request(now)))).toBe("accepted");
  });

  it("refuses a key that is not the certificate's", async () => {
    const ca = await TestCa.create();
    const other = await TestCa.create();
    expect(() => SigningAuthority.fromMaterial(material(ca, { keyPem: other.keyPem }), { trustDomain: td, now: new Date() }, { keyFile: "ca.key" })).toThrow(
      /ca.key is not the private key of/,
    );
  });

  it("refuses a signing certificate that is not a CA, of another trust domain, or expired", async () => {
    const notCa = await TestCa.create({ isCa: false });
    expect(() => SigningAuthority.fromMaterial(material(notCa), { trustDomain: td, now: new Date() })).toThrow(AuthorityError);
    const foreign = await TestCa.create({ trustDomain: "other.org" });
    expect(() => SigningAuthority.fromMaterial(material(foreign), { trustDomain: td, now: new Date() })).toThrow(/not in trust domain example.org/);
    const old = await TestCa.create({ notBefore: new Date(Date.now() - 10 * 3600_000), lifetimeMs: 3600_000 });
    expect(() => SigningAuthority.fromMaterial(material(old), { trustDomain: td, now: new Date() })).toThrow(/expired/);
  });

  it("refuses an intermediate that does not chain to the bundle without its chain file", async () => {
    const root = await TestCa.create();
    const mid = await root.intermediate();
    const issuing = await mid.intermediate();
    expect(() =>
      SigningAuthority.fromMaterial({ certPem: issuing.certPem, keyPem: issuing.keyPem, bundlePem: root.certPem }, { trustDomain: td, now: new Date() }),
    ).toThrow(/does not chain to a root .*chainFile/);
  });

  it("serves the signing certificate's node view for the template", async () => {
    const ca = await TestCa.create();
    const authority = SigningAuthority.fromMaterial(material(ca), { trustDomain: td, now: new Date() });
    expect(authority.signingCert.fingerprint256).toBe(new NodeX509Certificate(ca.certPem).fingerprint256);
    expect(authority.bundle.pem).toBe(new NodeX509Certificate(ca.certPem).toString());
  });
});
