import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrDerFromPem, verifyCsr } from "./csr.js";
import { thrownCode } from "../../test/helpers/error-code.js";
import { CsrError, CsrErrorCode } from "./errors.js";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ca-csr-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A CSR made by openssl req with a new key of the given openssl -newkey spec. */
async function opensslCsr(name: string, newkey: string[], extra: string[] = []): Promise<string> {
  const csr = join(dir, `${name}.csr`);
  await run("openssl", ["req", "-new", ...newkey, "-nodes", "-keyout", join(dir, `${name}.key`), "-subj", "/CN=ignored", ...extra, "-out", csr]);
  return readFile(csr, "utf8");
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

describe("verifyCsr", () => {
  it("accepts EC P-256, EC P-384 and RSA 2048 requests from openssl and returns their key", async () => {
    const cases: [string, string[], string][] = [
      ["p256", P256, "EC P-256"],
      ["p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "EC P-384"],
      ["rsa2048", ["-newkey", "rsa:2048"], "RSA 2048"],
    ];
    for (const [name, newkey, description] of cases) {
      const csr = verifyCsr(csrDerFromPem(await opensslCsr(name, newkey)));
      expect(csr.keyDescription).toBe(description);
      expect(csr.uris).toEqual([]);
      const keyPem = await readFile(join(dir, `${name}.key`), "utf8");
      const { createPublicKey } = await import("node:crypto");
      expect(csr.spki.equals(createPublicKey(keyPem).export({ type: "spki", format: "der" }))).toBe(true);
    }
  });

  it("reports the URI SANs the request asks for", async () => {
    const pem = await opensslCsr("uri", P256, ["-addext", "subjectAltName=DNS:x.example,URI:spiffe://example.org/ns/a/sa/b,URI:spiffe://other.org/x"]);
    expect(verifyCsr(csrDerFromPem(pem)).uris).toEqual(["spiffe://example.org/ns/a/sa/b", "spiffe://other.org/x"]);
  });

  it("refuses an RSA key below 2048 bits", async () => {
    const pem = await opensslCsr("rsa1024", ["-newkey", "rsa:1024"]);
    expect(() => verifyCsr(csrDerFromPem(pem))).toThrow(/RSA 1024; RSA keys must have at least 2048 bits/);
  });

  it("refuses a request whose signature does not verify (no proof of possession)", async () => {
    const der = csrDerFromPem(await opensslCsr("tamper", P256));
    // Flip a bit in the subject's CN: the signed bytes change, the signature stays.
    const at = der.indexOf(Buffer.from("ignored"));
    der[at] = (der[at] as number) ^ 0x01;
    expect(() => verifyCsr(der)).toThrow(/signature does not verify/);
  });

  it("refuses key types other than EC P-256/P-384 and RSA", async () => {
    const ed = await opensslCsr("ed25519", ["-newkey", "ed25519"]);
    expect(() => verifyCsr(csrDerFromPem(ed))).toThrow(CsrError);
    const k1 = await opensslCsr("secp256k1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"]);
    expect(() => verifyCsr(csrDerFromPem(k1))).toThrow(/use P-256 or P-384/);
  });

  it("refuses a compressed EC point (the certificate carries the key as sent)", async () => {
    await run("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", join(dir, "c.key")]);
    await run("openssl", ["ec", "-in", join(dir, "c.key"), "-conv_form", "compressed", "-out", join(dir, "cc.key")]);
    await run("openssl", ["req", "-new", "-key", join(dir, "cc.key"), "-subj", "/CN=x", "-out", join(dir, "cc.csr")]);
    const pem = await readFile(join(dir, "cc.csr"), "utf8");
    expect(() => verifyCsr(csrDerFromPem(pem))).toThrow(/uncompressed P-256 point/);
  });

  it("refuses garbage, truncation and trailing bytes with a DER message", async () => {
    const der = csrDerFromPem(await opensslCsr("garbage", P256));
    expect(() => verifyCsr(Buffer.from("not a csr"))).toThrow(/not a valid DER PKCS#10 request/);
    expect(() => verifyCsr(der.subarray(0, der.length - 5))).toThrow(/not a valid DER PKCS#10 request/);
    expect(() => verifyCsr(Buffer.concat([der, Buffer.of(0)]))).toThrow(/trailing bytes/);
    expect(() => verifyCsr(Buffer.alloc(0))).toThrow(CsrError);
  });

  it("names each refusal with its CsrError code", async () => {
    const code = (fn: () => unknown): string => thrownCode(CsrError, fn);
    const der = csrDerFromPem(await opensslCsr("codes", P256));
    expect(code(() => verifyCsr(der))).toBe("accepted");
    expect(code(() => csrDerFromPem("hello"))).toBe(CsrErrorCode.NOT_PEM);
    expect(code(() => verifyCsr(der.subarray(0, der.length - 5)))).toBe(CsrErrorCode.MALFORMED);
    expect(code(() => verifyCsr(Buffer.concat([der, Buffer.of(0)])))).toBe(CsrErrorCode.MALFORMED);
    const tampered = Buffer.from(der);
    const at = tampered.indexOf(Buffer.from("ignored"));
    tampered[at] = (tampered[at] as number) ^ 0x01;
    expect(code(() => verifyCsr(tampered))).toBe(CsrErrorCode.SIGNATURE);
    const k1 = await opensslCsr("codes-k1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"]);
    expect(code(() => verifyCsr(csrDerFromPem(k1)))).toBe(CsrErrorCode.UNSUPPORTED_KEY);
    const ed = await opensslCsr("codes-ed", ["-newkey", "ed25519"]);
    expect(code(() => verifyCsr(csrDerFromPem(ed)))).toBe(CsrErrorCode.UNSUPPORTED_ALGORITHM);
  });

  it("takes exactly one PEM CERTIFICATE REQUEST block", async () => {
    const pem = await opensslCsr("pem", P256);
    expect(() => csrDerFromPem("hello")).toThrow(/one PEM block/);
    expect(() => csrDerFromPem(pem + pem)).toThrow(/one PEM block/);
    expect(() => csrDerFromPem(pem.replace(/CERTIFICATE REQUEST/g, "CERTIFICATE"))).toThrow(/one PEM block/);
    // Old tools write "NEW CERTIFICATE REQUEST".
    expect(csrDerFromPem(pem.replaceAll("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")).equals(csrDerFromPem(pem))).toBe(true);
  });
});
