/**
 * The benchmark's own trust domain, used when mesh-ca is not built: a root
 * and X.509-SVIDs in the design's leaf profile (ECDSA P-256, one critical URI
 * SAN, cA=false, digitalSignature, serverAuth+clientAuth, SKI/AKI, 128-bit
 * serial). The CA double (ca-double.ts) signs the sidecar's CSR with
 * the same root, so haproxy and the sidecar present the same kind of chain.
 * bench/ does not import test/ (not compiled to dist), hence this small copy.
 */
import { KeyObject, webcrypto } from "node:crypto";
import { newSerialNumberHex } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const BACKDATE_MS = 60_000;
const KU = x509.KeyUsageFlags;

/** A certificate and its key, in PEM. */
export interface Credential {
  /** Leaf first, then intermediates (none here). */
  readonly chainPem: string;
  readonly keyPem: string;
}

/** Makes an ECDSA P-256 key pair. */
export async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

function keyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }).toString();
}

/** A self-signed root for one trust domain. */
export class BenchRoot {
  private constructor(
    readonly trustDomain: string,
    readonly cert: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
  ) {}

  /** Creates a root valid from a minute ago for `lifetimeMs`. */
  static async create(trustDomain: string, lifetimeMs = 24 * 3600_000): Promise<BenchRoot> {
    const keys = await newKeyPair();
    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const subject = `CN=mtls-mesh bench root,O=${trustDomain}`;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerialNumberHex(),
      subject,
      issuer: subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + lifetimeMs),
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(KU.keyCertSign | KU.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new BenchRoot(trustDomain, cert, keys);
  }

  /** The trust bundle: this root in PEM. */
  get bundlePem(): string {
    return this.cert.toString("pem") + "\n";
  }

  /** Signs an X.509-SVID for `id` over `publicKey`. */
  async sign(id: string, publicKey: CryptoKey, lifetimeMs = 3600_000): Promise<x509.X509Certificate> {
    return this.signLeaf(publicKey, lifetimeMs, [{ type: "url", value: id }], true);
  }

  /** A fresh key and SVID for `id`. */
  async issue(id: string, lifetimeMs = 3600_000): Promise<Credential> {
    const keys = await newKeyPair();
    const cert = await this.sign(id, keys.publicKey, lifetimeMs);
    return { chainPem: cert.toString("pem") + "\n", keyPem: keyPem(keys.privateKey) };
  }

  /** A serving certificate for an HTTPS server on loopback (the CA double). */
  async issueServing(lifetimeMs = 24 * 3600_000): Promise<Credential> {
    const keys = await newKeyPair();
    const names = [
      { type: "dns" as const, value: "localhost" },
      { type: "ip" as const, value: "127.0.0.1" },
    ];
    const cert = await this.signLeaf(keys.publicKey, lifetimeMs, names, false, "CN=localhost");
    return { chainPem: cert.toString("pem") + "\n", keyPem: keyPem(keys.privateKey) };
  }

  private async signLeaf(
    publicKey: CryptoKey,
    lifetimeMs: number,
    names: x509.JsonGeneralName[],
    sanCritical: boolean,
    subject?: string,
  ): Promise<x509.X509Certificate> {
    const notBefore = new Date(Date.now() - BACKDATE_MS);
    return x509.X509CertificateGenerator.create({
      serialNumber: newSerialNumberHex(),
      ...(subject === undefined ? {} : { subject }),
      issuer: this.cert.subjectName,
      notBefore,
      notAfter: new Date(notBefore.getTime() + lifetimeMs),
      publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(KU.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names, sanCritical),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
  }
}
