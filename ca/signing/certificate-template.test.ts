import { execFile } from "node:child_process";
import { generateKeyPairSync, KeyObject, verify, X509Certificate as NodeX509Certificate, type webcrypto } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { checkIssuedSvid } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";
import { TestCa, type TestKeyAlgorithm } from "../../test/helpers/test-ca.js";
import { CertificateTemplate, certificatePem, ipBytes, type SvidFields } from "./certificate-template.js";
import { children, readElement } from "../../lib/der/reader.js";
import { signatureSchemeFor, spkiDer, subjectPublicKeyOf } from "./keys.js";

const ID = "spiffe://example.org/ns/shop/sa/orders";
const td = TrustDomain.parse("example.org");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ca-template-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function openssl(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("openssl", args, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr }));
  });
}

/** The TBSCertificate bytes of a DER certificate. */
function tbsOf(der: Uint8Array): Buffer {
  const cert = readElement(der, 0);
  const [tbs] = children(der, cert);
  if (!tbs) throw new Error("no TBS");
  return Buffer.from(der.subarray(tbs.offset, tbs.end));
}

/** Builds the same SVID with @peculiar/x509's generator: the reference the fast path must equal. */
async function referenceSvid(ca: TestCa, fields: SvidFields, publicKey: webcrypto.CryptoKey): Promise<x509.X509Certificate> {
  const names = [
    ...fields.uris.map((value) => ({ type: "url" as const, value })),
    ...(fields.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(fields.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const caKey = KeyObject.from(ca.keys.privateKey);
  return x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(fields.serial).toString("hex"),
    issuer: ca.cert.subjectName,
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: signatureSchemeFor(caKey).webCrypto,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      new x509.SubjectAlternativeNameExtension(names, true),
    ],
  });
}

async function workloadKey(): Promise<{ spki: Buffer; publicKey: webcrypto.CryptoKey }> {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = spkiDer(publicKey);
  const { webcrypto } = await import("node:crypto");
  const cryptoKey = await webcrypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  return { spki, publicKey: cryptoKey };
}

function fieldsFor(spki: Buffer, extra: Partial<SvidFields> = {}): SvidFields {
  const now = Date.now();
  return {
    serial: Buffer.from("01a3f5c27e9b0d4e6f8a1b2c3d4e5f6071", "hex"),
    notBefore: new Date(Math.floor(now / 1000) * 1000 - 30_000),
    notAfter: new Date(Math.floor(now / 1000) * 1000 + 3600_000),
    spki,
    subjectPublicKey: subjectPublicKeyOf(spki),
    uris: [ID],
    ...extra,
  };
}

function describeExtensions(cert: x509.X509Certificate): { type: string; critical: boolean; value: string }[] {
  return cert.extensions.map((e) => ({ type: e.type, critical: e.critical, value: Buffer.from(e.value).toString("hex") }));
}

describe("the fast issuance path", () => {
  for (const alg of ["ec-p256", "ec-p384", "rsa-2048"] as TestKeyAlgorithm[]) {
    it(`builds the same TBSCertificate bytes as X509CertificateGenerator for a ${alg} signer`, async () => {
      const ca = await TestCa.create({ trustDomain: "example.org", keyAlgorithm: alg });
      const { spki, publicKey } = await workloadKey();
      const fields = fieldsFor(spki);
      const template = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(ca.cert.rawData)), ca.key);
      const fast = template.issue(fields);
      const reference = await referenceSvid(ca, fields, publicKey);

      // Signatures are randomised (ECDSA); everything they cover must be identical.
      expect(tbsOf(fast).equals(tbsOf(new Uint8Array(reference.rawData)))).toBe(true);
      const parsed = new x509.X509Certificate(fast);
      expect(describeExtensions(parsed)).toEqual(describeExtensions(reference));
      expect(parsed.signatureAlgorithm).toEqual(reference.signatureAlgorithm);
      expect(parsed.serialNumber).toBe(reference.serialNumber);
      expect(parsed.subject).toBe("");
      expect(parsed.issuer).toBe(ca.cert.subject);
      expect(await parsed.verify({ publicKey: ca.keys.publicKey, signatureOnly: true })).toBe(true);
      expect(checkIssuedSvid(parsed, { now: new Date(), trustDomain: td }).toString()).toBe(ID);
    });
  }

  it("orders and marks the extensions as the SVID profile needs", async () => {
    const ca = await TestCa.create();
    const { spki } = await workloadKey();
    const der = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(ca.cert.rawData)), ca.key).issue(fieldsFor(spki));
    const cert = new x509.X509Certificate(der);
    expect(cert.extensions.map((e) => [e.type, e.critical])).toEqual([
      ["2.5.29.19", true], // basicConstraints
      ["2.5.29.15", true], // keyUsage
      ["2.5.29.37", false], // extKeyUsage
      ["2.5.29.14", false], // subjectKeyIdentifier
      ["2.5.29.35", false], // authorityKeyIdentifier
      ["2.5.29.17", true], // subjectAltName, critical because the subject is empty
    ]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  });

  it("is read by openssl x509 and passes openssl verify -x509_strict for sslclient and sslserver", async () => {
    const ca = await TestCa.create();
    const { spki } = await workloadKey();
    const template = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(ca.cert.rawData)), ca.key);
    const leaf = join(dir, "leaf.pem");
    const root = join(dir, "root.pem");
    await writeFile(leaf, certificatePem(template.issue(fieldsFor(spki))));
    await writeFile(root, ca.certPem);
    const text = await openssl(["x509", "-in", leaf, "-noout", "-text"]);
    expect(text.code).toBe(0);
    expect(text.output).toContain("X509v3 Basic Constraints: critical\n                CA:FALSE");
    expect(text.output).toContain("X509v3 Key Usage: critical\n                Digital Signature");
    expect(text.output).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(text.output).toContain(`X509v3 Subject Alternative Name: critical\n                URI:${ID}`);
    for (const purpose of ["sslclient", "sslserver"]) {
      const result = await openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", root, leaf]);
      expect(result.output).toContain(": OK");
      expect(result.code).toBe(0);
    }
  });

  it("chains through a plug-in intermediate: AKI is the intermediate's SKI and openssl verifies the chain", async () => {
    const root = await TestCa.create();
    const intermediate = await root.intermediate();
    const { spki } = await workloadKey();
    const der = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(intermediate.cert.rawData)), intermediate.key).issue(fieldsFor(spki));
    const aki = new x509.X509Certificate(der).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    expect(aki).toBe(intermediate.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    await writeFile(join(dir, "chain-leaf.pem"), certificatePem(der));
    await writeFile(join(dir, "chain-int.pem"), intermediate.certPem);
    await writeFile(join(dir, "chain-root.pem"), root.certPem);
    const result = await openssl(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", join(dir, "chain-root.pem"), "-untrusted", join(dir, "chain-int.pem"), join(dir, "chain-leaf.pem")]);
    expect(result.output).toContain(": OK");
  });

  it("writes DNS and IP SANs after the URI for the API's serving certificate, as the reference does", async () => {
    const ca = await TestCa.create();
    const { spki, publicKey } = await workloadKey();
    const fields = fieldsFor(spki, { uris: ["spiffe://example.org/mesh-ca"], dnsNames: ["localhost", "mesh-ca.mesh-system.svc"], ipAddresses: ["127.0.0.1", "::1"] });
    const fast = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(ca.cert.rawData)), ca.key).issue(fields);
    const reference = await referenceSvid(ca, fields, publicKey);
    expect(tbsOf(fast).equals(tbsOf(new Uint8Array(reference.rawData)))).toBe(true);
    const node = new NodeX509Certificate(fast);
    expect(node.checkHost("localhost")).toBe("localhost");
    expect(node.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(node.checkIP("::1")).toBe("::1");
  });

  it("signs so that node:crypto verifies the signature with the CA key", async () => {
    const ca = await TestCa.create({ keyAlgorithm: "rsa-2048" });
    const { spki } = await workloadKey();
    const template = CertificateTemplate.forSigner(new NodeX509Certificate(Buffer.from(ca.cert.rawData)), ca.key);
    const der = template.issue(fieldsFor(spki));
    const cert = readElement(der, 0);
    const [tbs, , sig] = children(der, cert);
    if (!tbs || !sig) throw new Error("bad certificate");
    const ok = verify("sha256", der.subarray(tbs.offset, tbs.end), ca.key, der.subarray(sig.start + 1, sig.end));
    expect(ok).toBe(true);
  });
});

describe("ipBytes", () => {
  it("encodes IPv4 and IPv6 literals in network order", () => {
    expect(ipBytes("10.1.2.3").toString("hex")).toBe("0a010203");
    expect(ipBytes("::1").toString("hex")).toBe("00000000000000000000000000000001");
    expect(ipBytes("2001:db8::8:800:200c:417a").toString("hex")).toBe("20010db80000000000080800200c417a");
    expect(ipBytes("::ffff:192.0.2.1").toString("hex")).toBe("00000000000000000000ffffc0000201");
    expect(ipBytes("fe80:0:0:0:0:0:0:1").toString("hex")).toBe("fe800000000000000000000000000001");
    expect(() => ipBytes("example.org")).toThrow(/not an IP address/);
  });
});
