import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createServer } from "node:tls";
import { exportJWK } from "jose";
import { beforeAll, describe, it, expect } from "vitest";
import { TestCa } from "../../test/helpers/test-ca.js";
import { TrustBundle, type SpiffeBundleJson } from "./bundle.js";
import { BundleError, BundleErrorCode } from "./errors.js";
import { TrustDomain } from "./id.js";
import { thrownCode } from "../../test/helpers/error-code.js";

const td = TrustDomain.parse("example.org");
const HOUR = 3600_000;

let root: TestCa;
let second: TestCa;
let rsaRoot: TestCa;

beforeAll(async () => {
  root = await TestCa.create({ notBefore: new Date("2030-01-01T00:00:00Z"), lifetimeMs: 10 * HOUR });
  second = await TestCa.create({ notBefore: new Date("2030-01-01T00:00:00Z"), lifetimeMs: 5 * HOUR });
  rsaRoot = await TestCa.create({ keyAlgorithm: "rsa-2048" });
});

const codeOf = (fn: () => unknown): string => thrownCode(BundleError, fn);

const derBase64 = (ca: TestCa): string => Buffer.from(ca.cert.rawData).toString("base64");

describe("TrustBundle.fromPem", () => {
  it("reads one or more roots, dropping duplicates", () => {
    const bundle = TrustBundle.fromPem(td, root.certPem + second.certPem + root.certPem);
    expect(bundle.trustDomain.name).toBe("example.org");
    expect(bundle.roots).toHaveLength(2);
    expect(bundle.rootsDer[0]?.equals(Buffer.from(root.cert.rawData))).toBe(true);
  });

  it("writes the PEM back unchanged and caches it for TLS", () => {
    const bundle = TrustBundle.fromPem(td, root.certPem + second.certPem);
    expect(bundle.toPem()).toBe(root.certPem + second.certPem);
    expect(bundle.pem).toBe(bundle.toPem());
  });

  it("refuses an empty bundle", () => {
    expect(codeOf(() => TrustBundle.fromPem(td, ""))).toBe(BundleErrorCode.EMPTY);
    expect(codeOf(() => TrustBundle.fromPem(td, " \n\t"))).toBe(BundleErrorCode.EMPTY);
  });

  it("refuses garbage, bad base64 and undecodable certificates", () => {
    expect(codeOf(() => TrustBundle.fromPem(td, "not a certificate"))).toBe(BundleErrorCode.MALFORMED);
    expect(codeOf(() => TrustBundle.fromPem(td, "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"))).toBe(
      BundleErrorCode.MALFORMED,
    );
    expect(codeOf(() => TrustBundle.fromPem(td, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))).toBe(
      BundleErrorCode.MALFORMED,
    );
  });

  it("refuses a private key in the bundle without echoing it", () => {
    let message = "";
    try {
      TrustBundle.fromPem(td, root.certPem + root.keyPem);
    } catch (err) {
      expect((err as BundleError).code).toBe(BundleErrorCode.MALFORMED);
      message = (err as Error).message;
    }
    expect(message).toContain("PRIVATE KEY");
    expect(message).not.toContain(root.keyPem.split("\n")[1]);
  });

  it("refuses a leaf, and a CA certificate without keyCertSign", async () => {
    const leaf = await root.issue("spiffe://example.org/a");
    expect(codeOf(() => TrustBundle.fromPem(td, root.certPem + leaf.certPem))).toBe(BundleErrorCode.NOT_CA);
    const caWithoutCertSign = await root.issue("spiffe://example.org/b", { isCa: true });
    expect(codeOf(() => TrustBundle.fromPem(td, caWithoutCertSign.certPem))).toBe(BundleErrorCode.NOT_CA);
  });
});

describe("TrustBundle accessors", () => {
  it("reports the earliest root expiry", () => {
    const bundle = TrustBundle.fromPem(td, root.certPem + second.certPem);
    expect(bundle.earliestExpiry()).toEqual(new Date("2030-01-01T05:00:00Z"));
  });

  it("knows its roots by fingerprint", () => {
    const bundle = TrustBundle.fromPem(td, root.certPem);
    expect(bundle.hasRoot(new NodeX509Certificate(root.certPem))).toBe(true);
    expect(bundle.hasRoot(new NodeX509Certificate(second.certPem))).toBe(false);
  });

  it("serves as the ca option of a TLS client", async () => {
    const ca = await TestCa.create();
    const svid = await ca.issue("spiffe://example.org/ns/a/sa/server");
    const server = createServer({ cert: svid.chainPem, key: svid.keyPem }, (s) => s.end("hi"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const bundle = TrustBundle.fromPem(td, ca.bundlePem);
    try {
      // SPIFFE peers are named by URI SAN, not host name: identity is judged by checkLeafSvid.
      const socket = connect({ host: "127.0.0.1", port, ca: bundle.pem, checkServerIdentity: () => undefined });
      await once(socket, "secureConnect");
      expect(socket.authorized).toBe(true);
      socket.destroy();
    } finally {
      server.close();
    }
  });
});

describe("TrustBundle SPIFFE JSON", () => {
  it("writes one x509-svid JWK per root with one standard-base64 certificate and no kid", async () => {
    const json = TrustBundle.fromPem(td, root.certPem + rsaRoot.certPem).toSpiffeJson();
    expect(json.keys).toHaveLength(2);
    const [ec, rsa] = json.keys;
    expect(ec).toMatchObject({ use: "x509-svid", kty: "EC", crv: "P-256", x5c: [derBase64(root)] });
    expect(rsa).toMatchObject({ use: "x509-svid", kty: "RSA", e: "AQAB", x5c: [derBase64(rsaRoot)] });
    for (const key of json.keys) {
      expect(key).not.toHaveProperty("kid");
      expect(key).not.toHaveProperty("d");
      // The key members equal what jose's exportJWK makes of the certificate key.
      const jwk = await exportJWK(new NodeX509Certificate(Buffer.from(key.x5c[0], "base64")).publicKey);
      expect(key).toMatchObject(jwk);
    }
    expect(json).not.toHaveProperty("spiffe_sequence");
  });

  it("round-trips, with sequence and refresh hint", () => {
    const bundle = TrustBundle.fromPem(td, root.certPem + rsaRoot.certPem);
    const json = bundle.toSpiffeJson({ sequence: 7, refreshHintSeconds: 300 });
    expect(json.spiffe_sequence).toBe(7);
    expect(json.spiffe_refresh_hint).toBe(300);
    const back = TrustBundle.fromSpiffeJson(td, JSON.stringify(json));
    expect(back.pem).toBe(bundle.pem);
    expect(back.metadata).toEqual({ sequence: 7, refreshHintSeconds: 300 });
    expect(back.toSpiffeJson()).toEqual(json);
  });

  it("ignores keys of other uses and accepts-but-ignores kid", () => {
    const json = TrustBundle.fromPem(td, root.certPem).toSpiffeJson() as SpiffeBundleJson & { keys: object[] };
    const doc = {
      keys: [{ kty: "EC", use: "jwt-svid", kid: "abc", crv: "P-256", x: "AA", y: "AA" }, { ...json.keys[0], kid: "root-1" }],
    };
    const bundle = TrustBundle.fromSpiffeJson(td, doc);
    expect(bundle.roots).toHaveLength(1);
    expect(bundle.toSpiffeJson().keys[0]).not.toHaveProperty("kid");
  });

  describe("refuses", () => {
    const validKey = (): Record<string, unknown> => ({ ...TrustBundle.fromPem(td, root.certPem).toSpiffeJson().keys[0] });
    const withKey = (key: Record<string, unknown>): string => codeOf(() => TrustBundle.fromSpiffeJson(td, { keys: [key] }));

    it("text that is not JSON, or JSON without a keys array", () => {
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, "{"))).toBe(BundleErrorCode.MALFORMED);
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys: {} }))).toBe(BundleErrorCode.MALFORMED);
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, []))).toBe(BundleErrorCode.MALFORMED);
    });

    it("a bundle with no x509-svid keys", () => {
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys: [] }))).toBe(BundleErrorCode.EMPTY);
      expect(withKey({ ...validKey(), use: "jwt-svid" })).toBe(BundleErrorCode.EMPTY);
      expect(withKey({ ...validKey(), use: "X509-SVID" })).toBe(BundleErrorCode.EMPTY);
    });

    it("a key that is not an object", () => {
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys: ["x"] }))).toBe(BundleErrorCode.INVALID_JWK);
    });

    it("an x5c with no, two or a non-string certificate", () => {
      const key = validKey();
      const cert = (key.x5c as string[])[0];
      expect(withKey({ ...key, x5c: undefined })).toBe(BundleErrorCode.INVALID_JWK);
      expect(withKey({ ...key, x5c: [] })).toBe(BundleErrorCode.INVALID_JWK);
      expect(withKey({ ...key, x5c: [cert, derBase64(second)] })).toBe(BundleErrorCode.INVALID_JWK);
      expect(withKey({ ...key, x5c: [42] })).toBe(BundleErrorCode.INVALID_JWK);
    });

    it("an x5c in base64url", () => {
      const key = validKey();
      const std = (key.x5c as string[])[0] as string;
      const url = Buffer.from(std, "base64").toString("base64url");
      expect(url).not.toBe(std.replace(/=+$/, "")); // the DER has + or / in base64
      expect(withKey({ ...key, x5c: [url] })).toBe(BundleErrorCode.INVALID_JWK);
    });

    it("an x5c that is not a certificate", () => {
      expect(withKey({ ...validKey(), x5c: ["AAAA"] })).toBe(BundleErrorCode.MALFORMED);
    });

    it("key parameters that do not match the certificate, or a missing kty", () => {
      const other = TrustBundle.fromPem(td, second.certPem).toSpiffeJson().keys[0] as Record<string, unknown>;
      expect(withKey({ ...validKey(), x: other.x })).toBe(BundleErrorCode.KEY_MISMATCH);
      expect(withKey({ ...validKey(), kty: "RSA" })).toBe(BundleErrorCode.KEY_MISMATCH);
      expect(withKey({ ...validKey(), kty: undefined })).toBe(BundleErrorCode.INVALID_JWK);
    });

    it("a certificate that is not a CA", async () => {
      const leaf = await root.issue("spiffe://example.org/a");
      const b64 = Buffer.from(leaf.cert.rawData).toString("base64");
      const jwk = new NodeX509Certificate(leaf.certPem).publicKey.export({ format: "jwk" });
      expect(withKey({ use: "x509-svid", ...jwk, x5c: [b64] })).toBe(BundleErrorCode.NOT_CA);
    });

    it("a negative sequence or a zero refresh hint", () => {
      const keys = [validKey()];
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys, spiffe_sequence: -1 }))).toBe(BundleErrorCode.MALFORMED);
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys, spiffe_sequence: 1.5 }))).toBe(BundleErrorCode.MALFORMED);
      expect(codeOf(() => TrustBundle.fromSpiffeJson(td, { keys, spiffe_refresh_hint: 0 }))).toBe(BundleErrorCode.MALFORMED);
    });
  });
});
