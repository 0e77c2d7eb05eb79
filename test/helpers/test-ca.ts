/**
 * A throwaway certificate authority for tests (after go-spiffe's
 * internal/test/ca.go): roots, intermediates, good X.509-SVIDs and every kind
 * of deliberately broken one, generated per run so nothing is checked in.
 * A good leaf follows the design's profile and passes
 * `openssl verify -x509_strict -purpose sslclient|sslserver`.
 */
import { KeyObject, webcrypto } from "node:crypto";
import type { SpiffeId } from "../../lib/spiffe/id.js";
import { newSerialNumberHex } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Key types the helper can make. */
export type TestKeyAlgorithm = "ec-p256" | "ec-p384" | "rsa-2048";

/** Options of TestCa.create. */
export interface TestCaOptions {
  trustDomain?: string;
  notBefore?: Date;
  lifetimeMs?: number;
  keyAlgorithm?: TestKeyAlgorithm;
  /** URI SAN of the CA certificate; default `spiffe://<td>`, null for none. */
  uri?: string | null;
  /** When false, the CA certificate has cA=false (a "CA" that is not one). */
  isCa?: boolean;
}

/** Options of TestCa.issue; each one can make a leaf break one rule. */
export interface IssueOptions {
  notBefore?: Date;
  /** Wins over lifetimeMs. */
  notAfter?: Date;
  lifetimeMs?: number;
  keyAlgorithm?: TestKeyAlgorithm;
  /** BasicConstraints cA=true on the leaf. */
  isCa?: boolean;
  /** Leave BasicConstraints out. */
  noBasicConstraints?: boolean;
  basicConstraintsCritical?: boolean;
  keyCertSign?: boolean;
  crlSign?: boolean;
  /** KeyUsage keyAgreement instead of digitalSignature. */
  noDigitalSignature?: boolean;
  noKeyUsage?: boolean;
  keyUsageCritical?: boolean;
  /** Replaces the URI SANs (default: the one ID); [] leaves URIs out. */
  uris?: string[];
  dnsNames?: string[];
  /** Subject DN such as "CN=orders"; default empty. */
  subject?: string;
  /** Default: critical when the subject is empty. */
  sanCritical?: boolean;
  /** EKU purposes (default both); null leaves the extension out. */
  eku?: ("serverAuth" | "clientAuth")[] | null;
  noKeyIdentifiers?: boolean;
  serialHex?: string;
  /** Appended as is, e.g. a second SAN extension or an undecodable one. */
  extraExtensions?: x509.Extension[];
}

/** A leaf made by TestCa.issue, in the shapes tests and servers need. */
export interface IssuedTestSvid {
  id: string;
  cert: x509.X509Certificate;
  certPem: string;
  /** Leaf then intermediates (not the root), as the CA API returns it. */
  chainPem: string;
  keyPem: string;
  key: KeyObject;
  bundlePem: string;
}

const DEFAULT_CA_LIFETIME_MS = 365 * 24 * 3600_000;
const DEFAULT_LEAF_LIFETIME_MS = 3600_000;
const BACKDATE_MS = 60_000;
const EKU_OID = { serverAuth: x509.ExtendedKeyUsage.serverAuth, clientAuth: x509.ExtendedKeyUsage.clientAuth };
const KU = x509.KeyUsageFlags;

/** Generates a key pair of the given kind with Node's WebCrypto. */
export async function generateTestKeys(alg: TestKeyAlgorithm = "ec-p256"): Promise<CryptoKeyPair> {
  const params =
    alg === "rsa-2048"
      ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }
      : { name: "ECDSA", namedCurve: alg === "ec-p384" ? "P-384" : "P-256" };
  return (await webcrypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
}

function signingAlgorithm(keys: CryptoKeyPair): webcrypto.Algorithm | webcrypto.EcdsaParams {
  const alg = keys.privateKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (alg.name !== "ECDSA") return alg;
  return { name: "ECDSA", hash: alg.namedCurve === "P-384" ? "SHA-384" : "SHA-256" };
}

function pkcs8Pem(key: CryptoKey): { key: KeyObject; keyPem: string } {
  const obj = KeyObject.from(key);
  return { key: obj, keyPem: obj.export({ type: "pkcs8", format: "pem" }).toString() };
}

/** A test CA: a root from create(), or an intermediate from ca.intermediate(). */
export class TestCa {
  private constructor(
    readonly trustDomain: string,
    readonly cert: x509.X509Certificate,
    readonly keys: CryptoKeyPair,
    readonly parent: TestCa | undefined,
  ) {}

  private intermediateCount = 0;

  /** Creates a self-signed root: cA=true, keyCertSign+cRLSign, URI SAN `spiffe://<td>`. */
  static async create(opts: TestCaOptions = {}): Promise<TestCa> {
    const td = opts.trustDomain ?? "example.org";
    const keys = await generateTestKeys(opts.keyAlgorithm);
    const cert = await makeCaCert(td, keys, keys, undefined, opts, `CN=Test Root CA,O=${td}`);
    return new TestCa(td, cert, keys, undefined);
  }

  /** A CA signed by this one; its chain includes itself and this CA's intermediates. */
  async intermediate(opts: TestCaOptions = {}): Promise<TestCa> {
    const keys = await generateTestKeys(opts.keyAlgorithm);
    this.intermediateCount++;
    const subject = `CN=Test Intermediate CA ${this.intermediateCount},O=${this.trustDomain}`;
    const cert = await makeCaCert(this.trustDomain, keys, this.keys, this.cert, opts, subject);
    return new TestCa(this.trustDomain, cert, keys, this);
  }

  /** The self-signed CA at the top of this CA's chain. */
  get root(): TestCa {
    return this.parent ? this.parent.root : this;
  }

  /** This CA and its parents up to, not including, the root. */
  get intermediates(): x509.X509Certificate[] {
    return this.parent ? [this.cert, ...this.parent.intermediates] : [];
  }

  get certPem(): string {
    return this.cert.toString("pem") + "\n";
  }

  /** The root's PEM: what a verifier trusts. */
  get bundlePem(): string {
    return this.root.certPem;
  }

  get keyPem(): string {
    return pkcs8Pem(this.keys.privateKey).keyPem;
  }

  /** The CA private key as a node:crypto KeyObject. */
  get key(): KeyObject {
    return KeyObject.from(this.keys.privateKey);
  }

  /** Signs a new leaf for `id`; by default a good X.509-SVID, broken as the options ask. */
  async issue(id: string | SpiffeId, opts: IssueOptions = {}): Promise<IssuedTestSvid> {
    const idString = id.toString();
    const keys = await generateTestKeys(opts.keyAlgorithm);
    const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS));
    const extensions: x509.Extension[] = [];
    if (!opts.noBasicConstraints) {
      extensions.push(new x509.BasicConstraintsExtension(opts.isCa ?? false, undefined, opts.basicConstraintsCritical ?? true));
    }
    if (!opts.noKeyUsage) {
      // An empty KeyUsage bit string is itself invalid (RFC 5280), so "no
      // digitalSignature" keeps keyAgreement to break exactly one rule.
      let usages = opts.noDigitalSignature ? KU.keyAgreement : KU.digitalSignature;
      if (opts.keyCertSign) usages |= KU.keyCertSign;
      if (opts.crlSign) usages |= KU.cRLSign;
      extensions.push(new x509.KeyUsagesExtension(usages, opts.keyUsageCritical ?? true));
    }
    if (opts.eku !== null) {
      const eku = opts.eku ?? ["serverAuth", "clientAuth"];
      extensions.push(new x509.ExtendedKeyUsageExtension(eku.map((e) => EKU_OID[e])));
    }
    const names = [
      ...(opts.uris ?? [idString]).map((value) => ({ type: "url" as const, value })),
      ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ];
    if (names.length > 0) {
      extensions.push(new x509.SubjectAlternativeNameExtension(names, opts.sanCritical ?? opts.subject === undefined));
    }
    if (!opts.noKeyIdentifiers) {
      extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
      extensions.push(await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey));
    }
    extensions.push(...(opts.extraExtensions ?? []));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: opts.serialHex ?? newSerialNumberHex(),
      ...(opts.subject === undefined ? {} : { subject: opts.subject }),
      issuer: this.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: signingAlgorithm(this.keys),
      extensions,
    });
    const certPem = cert.toString("pem") + "\n";
    const chainPem = certPem + this.intermediates.map((c) => c.toString("pem") + "\n").join("");
    return { id: idString, cert, certPem, chainPem, ...pkcs8Pem(keys.privateKey), bundlePem: this.bundlePem };
  }
}

async function makeCaCert(
  td: string,
  keys: CryptoKeyPair,
  signer: CryptoKeyPair,
  issuer: x509.X509Certificate | undefined,
  opts: TestCaOptions,
  subject: string,
): Promise<x509.X509Certificate> {
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const uri = opts.uri === undefined ? `spiffe://${td}` : opts.uri;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.isCa ?? true, undefined, true),
    new x509.KeyUsagesExtension(KU.keyCertSign | KU.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
  ];
  if (uri !== null) extensions.push(new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }]));
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumberHex(),
    subject,
    issuer: issuer ? issuer.subjectName : subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (opts.lifetimeMs ?? DEFAULT_CA_LIFETIME_MS)),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signingAlgorithm(signer),
    extensions,
  });
}
