/**
 * The sidecar's private key: ECDSA P-256, generated in memory at start and
 * never written to disk or logged. The CSR built from it carries no subject
 * and no SAN: mesh-ca derives the SPIFFE ID from our credential, never from
 * the CSR, and the signature proves we hold the key.
 */
import { KeyObject, webcrypto } from "node:crypto";
import { x509 } from "../../lib/x509.js";

/** The in-memory key pair in the forms the sidecar needs. */
export class WorkloadKey {
  private constructor(
    private readonly keys: webcrypto.CryptoKeyPair,
    /** node:crypto form of the private key (checkPrivateKey against a returned SVID). */
    readonly privateKey: KeyObject,
    /** PKCS#8 PEM for TLS contexts. Memory only; log redaction also covers "keyPem". */
    readonly keyPem: string,
    /** DER SubjectPublicKeyInfo, to compare with a returned certificate's key. */
    readonly spki: Buffer,
  ) {}

  /** Generates a fresh P-256 key pair. */
  static async generate(): Promise<WorkloadKey> {
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const privateKey = KeyObject.from(keys.privateKey);
    const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const spki = KeyObject.from(keys.publicKey).export({ type: "spki", format: "der" });
    return new WorkloadKey(keys, privateKey, keyPem, spki);
  }

  /** A PEM PKCS#10 CSR signed with this key (proof of possession). */
  async csrPem(): Promise<string> {
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: this.keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    return csr.toString("pem");
  }

  /** Never print the key: JSON.stringify and util.inspect see only this. */
  toJSON(): string {
    return "[WorkloadKey]";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[WorkloadKey]";
  }
}
