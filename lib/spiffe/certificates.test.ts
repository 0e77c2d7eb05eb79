import { beforeAll, describe, it, expect } from "vitest";
import { TestCa } from "../../test/helpers/test-ca.js";
import { type CertificateInput, certificatesFromPem, toNodeCertificate } from "./certificates.js";
import { SvidError, SvidErrorCode } from "./errors.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const HOUR = 3600_000;
const ID = "spiffe://example.org/ns/shop/sa/orders";
const caTime = { notBefore: new Date(NOW.getTime() - 24 * HOUR), lifetimeMs: 365 * 24 * HOUR };
const leafTime = { notBefore: new Date(NOW.getTime() - 30_000), lifetimeMs: HOUR };

let root: TestCa;
let inter: TestCa;

beforeAll(async () => {
  root = await TestCa.create(caTime);
  inter = await root.intermediate(caTime);
});

function fingerprint(cert: CertificateInput): string {
  return toNodeCertificate(cert).fingerprint256;
}

describe("certificatesFromPem", () => {
  it("parses every certificate in order", async () => {
    const svid = await inter.issue(ID, leafTime);
    const certs = certificatesFromPem(svid.chainPem);
    expect(certs.map(fingerprint)).toEqual([svid.cert, inter.cert].map(fingerprint));
  });

  it("refuses text without certificates, other block types, bad base64 and cut-off blocks", async () => {
    const svid = await root.issue(ID, leafTime);
    const malformed = (pem: string): string => {
      try {
        certificatesFromPem(pem);
        return "accepted";
      } catch (err) {
        return err instanceof SvidError ? err.code : String(err);
      }
    };
    expect(malformed("hello")).toBe(SvidErrorCode.MALFORMED);
    expect(malformed(svid.keyPem)).toBe(SvidErrorCode.MALFORMED);
    expect(malformed("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n")).toBe(SvidErrorCode.MALFORMED);
    expect(malformed("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toBe(SvidErrorCode.MALFORMED);
    expect(malformed(svid.certPem.slice(0, 200))).toBe(SvidErrorCode.MALFORMED);
  });
});
