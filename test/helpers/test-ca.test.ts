import { execFile } from "node:child_process";
import { X509Certificate as NodeX509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it, expect } from "vitest";
import { x509 } from "../../lib/x509.js";
import { TestCa } from "./test-ca.js";

const ID = "spiffe://example.org/ns/shop/sa/orders";

interface RunResult {
  code: number;
  output: string;
}

function openssl(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile("openssl", args, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

function ext<T extends x509.Extension>(cert: x509.X509Certificate, type: new (raw: ArrayBuffer) => T): T | null {
  return cert.getExtension(type);
}

function uris(cert: x509.X509Certificate): string[] {
  const san = ext(cert, x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((n) => n.type === "url").map((n) => n.value) : [];
}

let dir: string;
let root: TestCa;
let inter: TestCa;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "test-ca-"));
  root = await TestCa.create({ trustDomain: "example.org" });
  inter = await root.intermediate();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("TestCa root and intermediate", () => {
  it("makes a self-signed root CA with the trust domain ID", async () => {
    expect(await root.cert.isSelfSigned()).toBe(true);
    expect(ext(root.cert, x509.BasicConstraintsExtension)?.ca).toBe(true);
    const ku = ext(root.cert, x509.KeyUsagesExtension)?.usages ?? 0;
    expect(ku & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(ku & x509.KeyUsageFlags.cRLSign).toBeTruthy();
    expect(uris(root.cert)).toEqual(["spiffe://example.org"]);
    expect(root.bundlePem).toBe(root.certPem);
    expect(root.intermediates).toEqual([]);
  });

  it("makes an intermediate signed by the root whose bundle is the root", async () => {
    expect(await inter.cert.verify({ publicKey: root.cert.publicKey, signatureOnly: true })).toBe(true);
    expect(inter.cert.issuer).toBe(root.cert.subject);
    expect(inter.bundlePem).toBe(root.certPem);
    expect(inter.intermediates).toEqual([inter.cert]);
    const second = await inter.intermediate();
    expect(second.intermediates.map((c) => c.subject)).toEqual([second.cert.subject, inter.cert.subject]);
  });

  it("exports the CA key as PKCS#8 PEM and a KeyObject", () => {
    expect(root.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(root.key.type).toBe("private");
    expect(root.key.asymmetricKeyType).toBe("ec");
  });
});

describe("TestCa.issue: a good leaf", () => {
  it("follows the SVID profile", async () => {
    const svid = await root.issue(ID);
    const cert = svid.cert;
    expect(svid.id).toBe(ID);
    expect(cert.subject).toBe("");
    expect(uris(cert)).toEqual([ID]);
    expect(ext(cert, x509.SubjectAlternativeNameExtension)?.critical).toBe(true);
    const bc = ext(cert, x509.BasicConstraintsExtension);
    expect([bc?.ca, bc?.critical]).toEqual([false, true]);
    const ku = ext(cert, x509.KeyUsagesExtension);
    expect([ku?.usages, ku?.critical]).toEqual([x509.KeyUsageFlags.digitalSignature, true]);
    expect(ext(cert, x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(ext(cert, x509.SubjectKeyIdentifierExtension)).not.toBeNull();
    expect(ext(cert, x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(ext(root.cert, x509.SubjectKeyIdentifierExtension)?.keyId);
    expect(cert.serialNumber).toMatch(/^01[0-9a-f]{32}$/);
  });

  it("returns a key that matches the certificate", async () => {
    const svid = await root.issue(ID);
    const node = new NodeX509Certificate(svid.certPem);
    expect(node.checkPrivateKey(createPrivateKey(svid.keyPem))).toBe(true);
    expect(node.checkPrivateKey(svid.key)).toBe(true);
  });

  it("chains the leaf with the intermediates but not the root", async () => {
    const svid = await inter.issue(ID);
    expect(svid.chainPem).toBe(svid.certPem + inter.certPem);
    expect(svid.bundlePem).toBe(root.certPem);
  });

  it.each(["sslclient", "sslserver"])("passes openssl verify -x509_strict -purpose %s", async (purpose) => {
    const direct = await root.issue(ID);
    const viaInter = await inter.issue(ID);
    await writeFile(join(dir, "root.pem"), root.certPem);
    await writeFile(join(dir, "inter.pem"), inter.certPem);
    await writeFile(join(dir, "direct.pem"), direct.certPem);
    await writeFile(join(dir, "leaf.pem"), viaInter.certPem);
    const common = ["verify", "-x509_strict", "-purpose", purpose, "-CAfile", join(dir, "root.pem")];
    const a = await openssl([...common, join(dir, "direct.pem")]);
    expect(a.output).toContain(": OK");
    expect(a.code).toBe(0);
    const b = await openssl([...common, "-untrusted", join(dir, "inter.pem"), join(dir, "leaf.pem")]);
    expect(b.output).toContain(": OK");
    expect(b.code).toBe(0);
  });

  it("is refused by openssl against another CA's root", async () => {
    const other = await TestCa.create();
    const svid = await other.issue(ID);
    await writeFile(join(dir, "root2.pem"), root.certPem);
    await writeFile(join(dir, "other-leaf.pem"), svid.certPem);
    const r = await openssl(["verify", "-x509_strict", "-CAfile", join(dir, "root2.pem"), join(dir, "other-leaf.pem")]);
    expect(r.code).not.toBe(0);
  });

  it("makes P-384 and RSA keys on request", async () => {
    const p384 = await TestCa.create({ keyAlgorithm: "ec-p384" });
    const leaf = await p384.issue(ID, { keyAlgorithm: "rsa-2048" });
    expect(p384.key.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(leaf.key.asymmetricKeyType).toBe("rsa");
    expect(await leaf.cert.verify({ publicKey: p384.cert.publicKey, signatureOnly: true })).toBe(true);
  });
});

describe("TestCa.issue: deliberately bad leaves", () => {
  it("sets cA=true", async () => {
    const { cert } = await root.issue(ID, { isCa: true });
    expect(ext(cert, x509.BasicConstraintsExtension)?.ca).toBe(true);
  });

  it("leaves BasicConstraints out or non-critical", async () => {
    expect(ext((await root.issue(ID, { noBasicConstraints: true })).cert, x509.BasicConstraintsExtension)).toBeNull();
    const bc = ext((await root.issue(ID, { basicConstraintsCritical: false })).cert, x509.BasicConstraintsExtension);
    expect(bc?.critical).toBe(false);
  });

  it("sets keyCertSign, cRLSign or drops digitalSignature", async () => {
    const usages = async (o: object): Promise<number> =>
      ext((await root.issue(ID, o)).cert, x509.KeyUsagesExtension)?.usages ?? -1;
    expect(await usages({ keyCertSign: true })).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign);
    expect(await usages({ crlSign: true })).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign);
    expect(await usages({ noDigitalSignature: true })).toBe(x509.KeyUsageFlags.keyAgreement);
  });

  it("leaves KeyUsage out or non-critical", async () => {
    expect(ext((await root.issue(ID, { noKeyUsage: true })).cert, x509.KeyUsagesExtension)).toBeNull();
    expect(ext((await root.issue(ID, { keyUsageCritical: false })).cert, x509.KeyUsagesExtension)?.critical).toBe(false);
  });

  it("replaces the URI SANs", async () => {
    const two = ["spiffe://example.org/a", "spiffe://example.org/b"];
    expect(uris((await root.issue(ID, { uris: two })).cert)).toEqual(two);
    expect(uris((await root.issue(ID, { uris: ["https://x.example"] })).cert)).toEqual(["https://x.example"]);
    expect(ext((await root.issue(ID, { uris: [] })).cert, x509.SubjectAlternativeNameExtension)).toBeNull();
    const dnsOnly = await root.issue(ID, { uris: [], dnsNames: ["orders.local"] });
    expect(ext(dnsOnly.cert, x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value)).toEqual(["orders.local"]);
  });

  it("issues a root ID or another trust domain's ID when asked", async () => {
    expect(uris((await root.issue("spiffe://example.org")).cert)).toEqual(["spiffe://example.org"]);
    expect(uris((await root.issue("spiffe://other.org/ns/a")).cert)).toEqual(["spiffe://other.org/ns/a"]);
  });

  it("sets the validity window", async () => {
    const notBefore = new Date("2030-01-01T00:00:00Z");
    const a = await root.issue(ID, { notBefore, lifetimeMs: 60_000 });
    expect([a.cert.notBefore, a.cert.notAfter]).toEqual([notBefore, new Date("2030-01-01T00:01:00Z")]);
    const notAfter = new Date("2030-06-01T00:00:00Z");
    expect((await root.issue(ID, { notBefore, notAfter, lifetimeMs: 1 })).cert.notAfter).toEqual(notAfter);
  });

  it("sets a subject, with a non-critical SAN by default, or an empty subject with a non-critical SAN", async () => {
    const named = await root.issue(ID, { subject: "CN=orders" });
    expect(named.cert.subject).toBe("CN=orders");
    expect(ext(named.cert, x509.SubjectAlternativeNameExtension)?.critical).toBe(false);
    const bad = await root.issue(ID, { sanCritical: false });
    expect(bad.cert.subject).toBe("");
    expect(ext(bad.cert, x509.SubjectAlternativeNameExtension)?.critical).toBe(false);
  });

  it("restricts or drops the EKU", async () => {
    const serverOnly = await root.issue(ID, { eku: ["serverAuth"] });
    expect(ext(serverOnly.cert, x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(ext((await root.issue(ID, { eku: null })).cert, x509.ExtendedKeyUsageExtension)).toBeNull();
  });

  it("drops the key identifiers and sets a chosen serial", async () => {
    const { cert } = await root.issue(ID, { noKeyIdentifiers: true, serialHex: "0badcafe" });
    expect(ext(cert, x509.SubjectKeyIdentifierExtension)).toBeNull();
    expect(ext(cert, x509.AuthorityKeyIdentifierExtension)).toBeNull();
    expect(cert.serialNumber).toBe("0badcafe");
  });

  it("appends extra extensions as given", async () => {
    const second = new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://example.org/b" }], true);
    const { cert } = await root.issue(ID, { extraExtensions: [second] });
    expect(cert.getExtensions("2.5.29.17")).toHaveLength(2);
  });

  it("makes a CA certificate that is not a CA", async () => {
    const fake = await TestCa.create({ isCa: false, uri: null });
    expect(ext(fake.cert, x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(uris(fake.cert)).toEqual([]);
  });
});
