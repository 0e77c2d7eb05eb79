/**
 * The signing authority: the signing certificate and key (a self-signed root
 * from `mesh-ca init`, or an intermediate of an existing PKI: "plug-in CA"),
 * the intermediates to append to every SVID, and the root bundle to publish.
 * Loaded and validated whole before use.
 *
 * How issued certificates are kept to the SVID profile without putting
 * @peculiar/x509 on the hot path:
 * - the extensions, issuer and algorithms come from a CertificateTemplate
 *   that is fixed per signing key; when an authority is built it issues a
 *   probe SVID and checks it with checkIssuedSvid and verifyChain, and
 *   refuses to start if the probe fails;
 * - per request only serial, validity, SPIFFE ID, key and key identifier
 *   vary; `issue` checks those before signing (leaf ID in the trust domain,
 *   lifetime within the signing chain; the serial has lib/spiffe's format);
 * - `issueChecked` also runs checkIssuedSvid on the result, reading the DER
 *   directly (10–15 µs, a few percent of an issuance): the API, the CLI
 *   and the API's own serving certificate use it, so no SVID leaves the CA
 *   unchecked.
 */
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { certificatesFromPem } from "../../lib/spiffe/certificates.js";
import { verifyChain } from "../../lib/spiffe/chain.js";
import { BundleError, SvidError } from "../../lib/spiffe/errors.js";
import type { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { checkIssuedSvid, checkSigningCertificate } from "../../lib/spiffe/svid.js";
import { CertificateTemplate, certificatePem } from "./certificate-template.js";
import { AuthorityError, AuthorityErrorCode, UnsupportedKeyError } from "./errors.js";
import { privateKeyFromPem, spkiDer, subjectPublicKeyOf } from "./keys.js";

/** Random bytes in a serial number after its leading 0x01 (lib/spiffe newSerialNumberHex: 128 bits). */
const SERIAL_RANDOM_BYTES = 16;

/** Paths of the signing material (docs/configuration.md `signing`). */
export interface SigningFiles {
  certFile: string;
  keyFile: string;
  chainFile?: string | undefined;
  bundleFile: string;
}

/** PEM texts of the signing material. */
export interface SigningMaterial {
  certPem: string;
  keyPem: string;
  /** Intermediates between the signing certificate and a root, leaf-most first; empty for a root signer. */
  chainPem?: string | undefined;
  bundlePem: string;
}

/** A request to sign one certificate for a key the caller proved it holds. */
export interface IssueRequest {
  id: SpiffeId;
  spki: Uint8Array;
  subjectPublicKey: Uint8Array;
  lifetimeMs: number;
  backdateMs: number;
  now: Date;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/** A signed, checked certificate with what the API returns and the audit log records. */
export interface IssuedCertificate {
  id: SpiffeId;
  der: Buffer;
  /** The leaf alone. */
  certPem: string;
  /** Leaf then intermediates. */
  chainPem: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

/** Options of SigningAuthority. */
export interface AuthorityOptions {
  trustDomain: TrustDomain;
  now: Date;
  /** Randomness for serial numbers; default crypto.randomBytes. */
  random?: (n: number) => Uint8Array;
}

/** Holds the signing key and issues X.509-SVIDs with it. */
export class SigningAuthority {
  private readonly template: CertificateTemplate;
  private readonly intermediatesPem: string;
  private readonly random: (n: number) => Uint8Array;
  /** Issued certificates end no later than this: the soonest expiry of the signing certificate and its intermediates. */
  readonly signingNotAfter: Date;

  private constructor(
    readonly trustDomain: TrustDomain,
    readonly signingCert: NodeX509Certificate,
    private readonly signingKey: KeyObject,
    readonly intermediates: readonly NodeX509Certificate[],
    readonly bundle: TrustBundle,
    random: (n: number) => Uint8Array,
  ) {
    this.template = CertificateTemplate.forSigner(signingCert, signingKey);
    this.intermediatesPem = [signingCert, ...intermediates]
      .filter((c) => !bundle.hasRoot(c))
      .map((c) => certificatePem(c.raw))
      .join("");
    this.random = random;
    let end = new Date(signingCert.validTo).getTime();
    for (const c of intermediates) end = Math.min(end, new Date(c.validTo).getTime());
    this.signingNotAfter = new Date(end);
  }

  /** Reads the files named in the config and validates them together. */
  static async load(files: SigningFiles, opts: AuthorityOptions): Promise<SigningAuthority> {
    const read = async (path: string, what: string): Promise<string> => {
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const material: SigningMaterial = {
      certPem: await read(files.certFile, "signing certificate"),
      keyPem: await read(files.keyFile, "signing key"),
      bundlePem: await read(files.bundleFile, "trust bundle"),
      chainPem: files.chainFile === undefined ? undefined : await read(files.chainFile, "chain file"),
    };
    return SigningAuthority.fromMaterial(material, opts, files);
  }

  /**
   * Validates signing material: the key matches the certificate, the
   * certificate is a CA of the trust domain valid now, and it chains through
   * the given intermediates to a root of the bundle.
   */
  static fromMaterial(material: SigningMaterial, opts: AuthorityOptions, names: Partial<SigningFiles> = {}): SigningAuthority {
    const where = (key: keyof SigningFiles, what: string): string => names[key] ?? what;
    const certs = parseCertificates(material.certPem, where("certFile", "signing certificate"));
    const signingCert = certs[0] as NodeX509Certificate;
    // A cert file holding the signer followed by its intermediates is common; accept both layouts.
    const intermediates = [...certs.slice(1), ...(material.chainPem ? parseCertificates(material.chainPem, where("chainFile", "chain")) : [])];
    let key: KeyObject;
    try {
      key = privateKeyFromPem(material.keyPem);
    } catch (err) {
      throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where("keyFile", "signing key")}: not a PEM private key: ${(err as Error).message}`);
    }
    if (!spkiDer(key).equals(spkiDer(signingCert.publicKey))) {
      throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where("keyFile", "signing key")} is not the private key of ${where("certFile", "the signing certificate")}`);
    }
    try {
      checkSigningCertificate(signingCert, { now: opts.now, trustDomain: opts.trustDomain });
    } catch (err) {
      if (err instanceof SvidError) throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where("certFile", "signing certificate")}: ${err.message}`);
      throw err;
    }
    let bundle: TrustBundle;
    try {
      bundle = TrustBundle.fromPem(opts.trustDomain, material.bundlePem);
    } catch (err) {
      if (err instanceof BundleError) throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where("bundleFile", "trust bundle")}: ${err.message}`);
      throw err;
    }
    try {
      verifyChain(signingCert, intermediates, bundle, opts.now);
    } catch (err) {
      if (!(err instanceof SvidError)) throw err;
      throw new AuthorityError(
        AuthorityErrorCode.MATERIAL_INVALID,
        `${where("certFile", "signing certificate")} does not chain to a root in ${where("bundleFile", "the trust bundle")}` +
          ` (give the intermediates in signing.chainFile): ${err.message}`,
      );
    }
    let authority: SigningAuthority;
    try {
      authority = new SigningAuthority(opts.trustDomain, signingCert, key, intermediates, bundle, opts.random ?? pooledRandomBytes());
    } catch (err) {
      if (err instanceof UnsupportedKeyError) throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where("keyFile", "signing key")}: ${err.message}`);
      throw err;
    }
    authority.selfTest(opts.now);
    return authority;
  }

  /** Issues a probe SVID through the template and checks it with lib/spiffe (profile and chain); throws AuthorityError. */
  private selfTest(now: Date): void {
    const probeKey = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey;
    const spki = spkiDer(probeKey);
    const probe = this.issueChecked({
      id: this.trustDomain.idFromSegments("mesh-ca", "self-test"),
      spki,
      subjectPublicKey: subjectPublicKeyOf(spki),
      lifetimeMs: 60_000,
      backdateMs: 0,
      now,
    });
    try {
      verifyChain(probe.der, [this.signingCert, ...this.intermediates], this.bundle, now);
    } catch (err) {
      if (err instanceof SvidError) throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `a probe SVID does not verify against the trust bundle: ${err.message}`);
      throw err;
    }
  }

  /**
   * Signs a certificate: notBefore = now − backdate, notAfter = now +
   * lifetime but never past the signing chain. The fixed fields were proven
   * by the self-test when the authority was built (see the module comment);
   * issueChecked also runs the full lib/spiffe check. Throws AuthorityError
   * for an ID outside the trust domain or when the signing chain has expired.
   */
  issue(request: IssueRequest): IssuedCertificate {
    if (request.id.isRoot || !request.id.memberOf(this.trustDomain)) {
      throw new AuthorityError(AuthorityErrorCode.FOREIGN_ID, `refusing to sign ${request.id.toString()}: not a workload ID in trust domain ${this.trustDomain.name}`);
    }
    const now = request.now.getTime();
    const notAfter = new Date(Math.min(now + request.lifetimeMs, this.signingNotAfter.getTime()));
    if (notAfter.getTime() <= now) throw new AuthorityError(AuthorityErrorCode.SIGNING_CERT_EXPIRED, `the signing certificate expired at ${this.signingNotAfter.toISOString()}`);
    const notBefore = new Date(now - request.backdateMs);
    // lib/spiffe newSerialNumberHex's format (0x01 then 16 random bytes), built as bytes: no hex round trip per SVID.
    const randomPart = this.random(SERIAL_RANDOM_BYTES);
    if (randomPart.length !== SERIAL_RANDOM_BYTES) throw new AuthorityError(AuthorityErrorCode.RANDOM_SOURCE, `the random source gave ${randomPart.length} bytes for a serial number, not ${SERIAL_RANDOM_BYTES}`);
    const serial = Buffer.allocUnsafe(1 + SERIAL_RANDOM_BYTES);
    serial[0] = 0x01;
    serial.set(randomPart, 1);
    const serialHex = serial.toString("hex");
    const der = this.template.issue({
      serial,
      notBefore,
      notAfter,
      spki: request.spki,
      subjectPublicKey: request.subjectPublicKey,
      uris: [request.id.toString()],
      ...(request.dnsNames ? { dnsNames: request.dnsNames } : {}),
      ...(request.ipAddresses ? { ipAddresses: request.ipAddresses } : {}),
    });
    const certPem = certificatePem(der);
    return {
      id: request.id,
      der,
      certPem,
      chainPem: certPem + this.intermediatesPem,
      serialHex,
      // DER times have whole seconds; report what the certificate says.
      notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
      notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
    };
  }

  /** Like issue, then checks the certificate with lib/spiffe checkIssuedSvid; throws AuthorityError. */
  issueChecked(request: IssueRequest): IssuedCertificate {
    const issued = this.issue(request);
    try {
      checkIssuedSvid(issued.der, { now: request.now, trustDomain: this.trustDomain, expectedId: request.id });
    } catch (err) {
      if (err instanceof SvidError) throw new AuthorityError(AuthorityErrorCode.PROFILE_BROKEN, `issued certificate breaks the SVID profile: ${err.message}`);
      throw err;
    }
    return issued;
  }

  /** The public key of an issued certificate's signer, for tests and self-checks. */
  get signingPublicKey(): KeyObject {
    return createPublicKey(this.signingKey);
  }
}

/** randomBytes drawn from a 4 KiB pool: one system call per 256 serial numbers instead of one each. */
function pooledRandomBytes(): (n: number) => Uint8Array {
  let pool = Buffer.alloc(0);
  let at = 0;
  return (n) => {
    if (n > 256) return randomBytes(n);
    if (at + n > pool.length) {
      pool = randomBytes(4096);
      at = 0;
    }
    const out = pool.subarray(at, at + n);
    at += n;
    return out;
  };
}

function parseCertificates(pem: string, where: string): NodeX509Certificate[] {
  try {
    return certificatesFromPem(pem);
  } catch (err) {
    throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `${where}: ${(err as Error).message}`);
  }
}
