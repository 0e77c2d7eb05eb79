/**
 * The SVID checks used to read certificates through @peculiar/x509 (build an
 * X509Certificate, decode its extensions with the library's schemas); they
 * now read the DER directly (certificate-view.ts). This file runs every kind
 * of certificate the test CA can make through both routes and expects the
 * same verdicts: the old route is put back by swapping readCertificateView
 * for a reader that decodes the certificate the way the old checks did.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { TestCa, type IssueOptions } from "../../test/helpers/test-ca.js";
import { x509 } from "../x509.js";
import type { CertificateView } from "./certificate-view.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import { SpiffeId, TrustDomain } from "./id.js";
import { checkIssuedSvid, checkLeafSvid, checkSigningCertificate } from "./svid.js";

const route = vi.hoisted(() => ({ current: "der" as "der" | "peculiar" }));

vi.mock(import("./certificate-view.js"), async (importOriginal) => {
  const real = await importOriginal();
  return {
    ...real,
    readCertificateView: (der: Uint8Array) => (route.current === "der" ? real.readCertificateView(der) : peculiarView(new x509.X509Certificate(der))),
  };
});

/** What the checks read, decoded as the @peculiar/x509-based checks decoded it. */
function peculiarView(cert: x509.X509Certificate): CertificateView {
  let all: x509.Extension[];
  try {
    all = cert.extensions;
  } catch (err) {
    throw new SvidError(SvidErrorCode.MALFORMED, `certificate extensions cannot be parsed: ${(err as Error).message}`);
  }
  const serial = serialOctets(new Uint8Array(cert.rawData));
  if (serial === undefined) throw new SvidError(SvidErrorCode.MALFORMED, "certificate serial number cannot be read");
  const view: { -readonly [K in keyof CertificateView]: CertificateView[K] } = {
    serial,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    subjectEmpty: cert.subjectName.toJSON().length === 0,
    hasSubjectKeyId: false,
    hasAuthorityKeyId: false,
  };
  const seen = new Set<string>();
  for (const e of all) {
    if (seen.has(e.type)) throw new SvidError(SvidErrorCode.DUPLICATE_EXTENSION, `extension ${e.type} appears more than once`);
    seen.add(e.type);
    if (e instanceof x509.SubjectAlternativeNameExtension) {
      const items = e.names.items;
      view.san = { critical: e.critical, uris: items.filter((n) => n.type === "url").map((n) => n.value), otherNames: items.filter((n) => n.type !== "url").length };
    } else if (e instanceof x509.BasicConstraintsExtension) view.basicConstraints = { critical: e.critical, ca: e.ca };
    else if (e instanceof x509.KeyUsagesExtension) view.keyUsage = { critical: e.critical, flags: e.usages };
    else if (e instanceof x509.ExtendedKeyUsageExtension) view.extendedKeyUsage = { critical: e.critical, oids: e.usages.map(String) };
    else if (e.type === "2.5.29.14") view.hasSubjectKeyId = true;
    else if (e.type === "2.5.29.35") view.hasAuthorityKeyId = true;
  }
  return view;
}

/** tbsCertificate.serialNumber's content octets, as the old checks read them (the library drops the sign). */
function serialOctets(der: Uint8Array): Uint8Array | undefined {
  const tlv = (offset: number): { tag: number; start: number; end: number } | undefined => {
    const tag = der[offset];
    let len = der[offset + 1];
    if (tag === undefined || len === undefined) return undefined;
    let start = offset + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
      start += n;
    }
    return start + len <= der.length ? { tag, start, end: start + len } : undefined;
  };
  const tbs = tlv(tlv(0)?.start ?? -1);
  let field = tlv(tbs?.start ?? -1);
  if (field?.tag === 0xa0) field = tlv(field.end);
  return field?.tag === 0x02 ? der.subarray(field.start, field.end) : undefined;
}

const NOW = new Date("2030-01-01T00:00:00Z");
const HOUR = 3600_000;
const ID = "spiffe://example.org/ns/shop/sa/orders";
const td = TrustDomain.parse("example.org");
const good = { notBefore: new Date(NOW.getTime() - 30_000), lifetimeMs: HOUR };

/** Every knob of TestCa.issue, alone and in the combinations the svid tests use. */
const LEAF_KINDS: [string, IssueOptions, string?][] = [
  ["a good leaf", {}],
  ["a P-384 leaf", { keyAlgorithm: "ec-p384" }],
  ["an RSA leaf", { keyAlgorithm: "rsa-2048" }],
  ["cA=true", { isCa: true }],
  ["no BasicConstraints", { noBasicConstraints: true }],
  ["non-critical BasicConstraints", { basicConstraintsCritical: false }],
  ["keyCertSign", { keyCertSign: true }],
  ["cRLSign", { crlSign: true }],
  ["keyCertSign and cRLSign", { keyCertSign: true, crlSign: true }],
  ["no digitalSignature", { noDigitalSignature: true }],
  ["no KeyUsage", { noKeyUsage: true }],
  ["non-critical KeyUsage", { keyUsageCritical: false }],
  ["two URI SANs", { uris: ["spiffe://example.org/a", "spiffe://example.org/b"] }],
  ["a non-spiffe URI", { uris: ["https://example.org/a"] }],
  ["an uppercase trust domain", { uris: ["spiffe://Example.org/a"] }],
  ["a root ID", { uris: ["spiffe://example.org"] }],
  ["another trust domain", { uris: ["spiffe://other.org/ns/a/sa/b"] }],
  ["only a DNS SAN", { uris: [], dnsNames: ["orders.local"] }],
  ["no SAN at all", { uris: [], subject: "CN=orders" }],
  ["extra DNS SANs", { dnsNames: ["orders.local", "orders.shop.svc"] }],
  ["a subject and a non-critical SAN", { subject: "CN=orders", sanCritical: false }],
  ["a subject and a critical SAN", { subject: "CN=orders,O=shop", sanCritical: true }],
  ["an empty subject and a non-critical SAN", { sanCritical: false }],
  ["no EKU", { eku: null }],
  ["EKU serverAuth only", { eku: ["serverAuth"] }],
  ["EKU clientAuth only", { eku: ["clientAuth"] }],
  ["no key identifiers", { noKeyIdentifiers: true }],
  ["an 8-bit serial", { serialHex: "01" }],
  ["a 63-bit serial", { serialHex: "7f" + "ab".repeat(7) }],
  ["a 64-bit serial", { serialHex: "ff" + "ab".repeat(7) }],
  ["a 128-bit serial", { serialHex: "80" + "ab".repeat(15) }],
  ["a 21-octet serial", { serialHex: "7f" + "ab".repeat(20) }],
  ["an expired leaf", { notBefore: new Date(NOW.getTime() - 2 * HOUR) }],
  ["a leaf not yet valid", { notBefore: new Date(NOW.getTime() + 60_000) }],
  ["a leaf valid from now", { notBefore: NOW }],
  ["a leaf ending now", { notBefore: new Date(NOW.getTime() - HOUR), lifetimeMs: HOUR }],
  ["a GeneralizedTime notAfter", { notAfter: new Date("2050-06-01T00:00:00Z") }],
  ["a second SAN extension", { extraExtensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://example.org/admin" }], true)] }],
  ["a second KeyUsage extension", { extraExtensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] }],
  ["an undecodable BasicConstraints", { noBasicConstraints: true, extraExtensions: [new x509.Extension("2.5.29.19", true, new Uint8Array([0x04, 0x01, 0x00]))] }],
  ["an undecodable SAN", { uris: [], extraExtensions: [new x509.Extension("2.5.29.17", true, new Uint8Array([0x02, 0x01, 0x00]))] }],
  ["an EKU with codeSigning only", { eku: null, extraExtensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning])] }],
  ["an unknown non-critical extension", { extraExtensions: [new x509.Extension("1.2.3.4.5", false, new Uint8Array([0x05, 0x00]))] }],
  ["a negative serial", { serialHex: "7f" + "ab".repeat(16) }, "negate-serial"],
];

const CA_KINDS: [string, () => Promise<TestCa>][] = [
  ["a root", () => TestCa.create({ ...good, lifetimeMs: 24 * HOUR })],
  ["an RSA root", () => TestCa.create({ ...good, lifetimeMs: 24 * HOUR, keyAlgorithm: "rsa-2048" })],
  ["a CA without a URI", () => TestCa.create({ ...good, uri: null })],
  ["a CA whose ID has a path", () => TestCa.create({ ...good, uri: "spiffe://example.org/ca" })],
  ["a CA of another trust domain", () => TestCa.create({ ...good, trustDomain: "other.org" })],
  ["a CA with an https URI", () => TestCa.create({ ...good, uri: "https://ca.example.org" })],
  ["a CA that is not a CA", () => TestCa.create({ ...good, isCa: false })],
  ["an expired CA", () => TestCa.create({ notBefore: new Date(NOW.getTime() - 2 * HOUR), lifetimeMs: HOUR })],
];

/** Each check with each option set the callers use; the verdict is the error code or the ID returned. */
const CHECKS: [string, (der: Uint8Array) => unknown][] = [
  ["leaf any", (c) => checkLeafSvid(c, { now: NOW })],
  ["leaf client in td", (c) => checkLeafSvid(c, { now: NOW, trustDomain: td, usage: "client" })],
  ["leaf server in td", (c) => checkLeafSvid(c, { now: NOW, trustDomain: td, usage: "server" })],
  ["leaf expected id", (c) => checkLeafSvid(c, { now: NOW, expectedId: SpiffeId.parse(ID) })],
  ["leaf an hour later", (c) => checkLeafSvid(c, { now: new Date(NOW.getTime() + HOUR) })],
  ["issued", (c) => checkIssuedSvid(c, { now: NOW, trustDomain: td, expectedId: SpiffeId.parse(ID) })],
  ["issued any id", (c) => checkIssuedSvid(c, { now: NOW, trustDomain: td })],
  ["signing", (c) => checkSigningCertificate(c, { now: NOW, trustDomain: td })],
];

function verdict(fn: () => unknown): string {
  try {
    return `accepted ${String(fn())}`;
  } catch (err) {
    if (err instanceof SvidError) return err.code;
    throw err;
  }
}

function verdicts(der: Uint8Array, via: "der" | "peculiar"): Record<string, string> {
  route.current = via;
  try {
    return Object.fromEntries(CHECKS.map(([name, check]) => [name, verdict(() => check(der))]));
  } finally {
    route.current = "der";
  }
}

const certs = new Map<string, Uint8Array>();

beforeAll(async () => {
  const root = await TestCa.create({ trustDomain: "example.org", notBefore: new Date(NOW.getTime() - 24 * HOUR), lifetimeMs: 365 * 24 * HOUR });
  const inter = await root.intermediate({ notBefore: new Date(NOW.getTime() - 24 * HOUR), lifetimeMs: 365 * 24 * HOUR });
  certs.set("the root", new Uint8Array(root.cert.rawData));
  certs.set("an intermediate", new Uint8Array(inter.cert.rawData));
  for (const [name, opts, twist] of LEAF_KINDS) {
    const der = new Uint8Array((await root.issue(ID, { ...good, ...opts })).cert.rawData);
    if (twist === "negate-serial") {
      const at = Buffer.from(der).indexOf(Buffer.from(opts.serialHex as string, "hex"));
      der[at] = 0xff; // two's complement: now negative
    }
    certs.set(name, der);
  }
  for (const [name, make] of CA_KINDS) certs.set(name, new Uint8Array((await make()).cert.rawData));
});

describe("SVID checks read the DER the way @peculiar/x509 decoded it", () => {
  it("gives every kind of certificate the same verdict on both routes", () => {
    expect(certs.size).toBe(LEAF_KINDS.length + CA_KINDS.length + 2);
    for (const [name, der] of certs) {
      expect({ name, ...verdicts(der, "der") }).toEqual({ name, ...verdicts(der, "peculiar") });
    }
  });

  it("covers every leaf error code the test CA can provoke", () => {
    const seen = new Set<string>();
    for (const der of certs.values()) for (const v of Object.values(verdicts(der, "der"))) seen.add(v.split(" ")[0] as string);
    const provokable = Object.values(SvidErrorCode).filter((c) => c !== SvidErrorCode.UNTRUSTED); // UNTRUSTED is verifyChain's
    expect([...provokable].filter((c) => !seen.has(c))).toEqual([]);
    expect(seen.has("accepted")).toBe(true);
  });

  it("reads the same fields as the library for every certificate it accepts", async () => {
    const { readCertificateView } = await import("./certificate-view.js");
    let compared = 0;
    for (const [name, der] of certs) {
      let fromDer: CertificateView;
      try {
        fromDer = readCertificateView(der);
      } catch {
        continue; // the malformed and duplicate kinds: their verdicts are compared above
      }
      expect({ name, ...fromDer }).toEqual({ name, ...peculiarView(new x509.X509Certificate(der)) });
      compared++;
    }
    expect(compared).toBeGreaterThan(40);
  });

  it("accepts DER bytes, a node:crypto certificate and an @peculiar/x509 certificate alike", () => {
    for (const der of certs.values()) {
      const fromBytes = verdict(() => checkLeafSvid(der, { now: NOW, trustDomain: td }));
      expect(verdict(() => checkLeafSvid(Buffer.from(der), { now: NOW, trustDomain: td }))).toBe(fromBytes);
      expect(verdict(() => checkLeafSvid(new x509.X509Certificate(der), { now: NOW, trustDomain: td }))).toBe(fromBytes);
      let node: NodeX509Certificate | undefined;
      try {
        node = new NodeX509Certificate(der);
      } catch {
        // OpenSSL refuses some broken kinds (e.g. the negative serial) outright; nothing to compare.
      }
      if (node) expect(verdict(() => checkLeafSvid(node, { now: NOW, trustDomain: td }))).toBe(fromBytes);
    }
  });
});
