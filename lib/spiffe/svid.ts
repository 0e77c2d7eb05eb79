/**
 * X.509-SVID rules (X509-SVID spec §3-§5, RFC 5280) that OpenSSL's chain
 * check does not enforce: OpenSSL alone accepts a leaf with cA=true, with
 * keyCertSign, or with an empty subject and a non-critical SAN. The sidecar
 * runs checkLeafSvid after the TLS handshake (caching by fingerprint); the CA
 * runs checkIssuedSvid on every certificate before returning it.
 *
 * Decisions, stricter or looser than the spec where it leaves room:
 * - Verifier (checkLeafSvid): an absent BasicConstraints extension means "not
 *   a CA" (RFC 5280 §4.2.1.9), as in go-spiffe; only cA=true is refused. The
 *   issuance profile (checkIssuedSvid) requires it present and critical.
 * - KeyUsage must be present and critical on every leaf (X509-SVID §4.3).
 * - EKU absent is accepted by the verifier (RFC 5280 §4.2.1.12: any purpose);
 *   when present it must hold the purpose the caller needs. anyExtendedKeyUsage
 *   does not count (OpenSSL refuses it for TLS too). Issued SVIDs carry both.
 * - Serial: positive and at most 20 octets (RFC 5280 §4.1.2.2), at least 64
 *   bits for any leaf, at least 128 bits for ours (newSerialNumberHex).
 *
 * The checks take a certificate in any form (DER bytes, node:crypto or
 * @peculiar/x509 X509Certificate) and read what they need straight from the
 * DER (certificate-view.ts): 9–15 µs for a P-256 SVID, where building an
 * @peculiar/x509 certificate and decoding its extensions took about 1.8 ms,
 * too much for the CA to check every SVID it issues.
 */
import { randomBytes } from "node:crypto";
import type { CertificateInput } from "./certificates.js";
import { certificateDer, type CertificateView, KeyUsageFlag, readCertificateView, type SanView } from "./certificate-view.js";
import { SpiffeIdError, SvidError, SvidErrorCode } from "./errors.js";
import { SpiffeId, type TrustDomain } from "./id.js";

/** Which TLS role the SVID must be usable for. */
export type SvidUsage = "client" | "server" | "any";

/** Options of checkLeafSvid. */
export interface LeafCheckOptions {
  now: Date;
  /** When given, the SVID's ID must be in this trust domain. */
  trustDomain?: TrustDomain;
  /** When given, the SVID must carry exactly this ID. */
  expectedId?: SpiffeId;
  /** Purpose a present EKU extension must allow; "any" (default) = serverAuth or clientAuth. */
  usage?: SvidUsage;
}

/** Options of checkIssuedSvid: the leaf options minus usage (both are required). */
export type IssuedCheckOptions = Omit<LeafCheckOptions, "usage">;

/** Options of checkSigningCertificate. */
export interface SigningCheckOptions {
  now: Date;
  trustDomain: TrustDomain;
}

const EKU = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

const KU = KeyUsageFlag;
const LEAF_MIN_SERIAL_BITS = 64;
const ISSUED_MIN_SERIAL_BITS = 128;
const MAX_SERIAL_OCTETS = 20;

/** Checks every leaf X.509-SVID rule and returns the SVID's SPIFFE ID; throws SvidError (SVID_MALFORMED if the DER is broken). */
export function checkLeafSvid(cert: CertificateInput, opts: LeafCheckOptions): SpiffeId {
  return checkLeaf(view(cert), opts);
}

function view(cert: CertificateInput): CertificateView {
  return readCertificateView(certificateDer(cert));
}

function checkLeaf(cert: CertificateView, opts: LeafCheckOptions): SpiffeId {
  const id = leafId(cert.san, opts);
  if (cert.san?.critical !== true && cert.subjectEmpty) {
    fail(SvidErrorCode.EMPTY_SUBJECT_SAN_NOT_CRITICAL, "an SVID with an empty subject must mark its SAN extension critical (RFC 5280 §4.1.2.6)");
  }
  if (cert.basicConstraints?.ca === true) {
    fail(SvidErrorCode.CA_LEAF, "a leaf SVID must have BasicConstraints cA=false");
  }
  checkLeafKeyUsage(cert.keyUsage);
  checkEku(cert.extendedKeyUsage?.oids, opts.usage ?? "any");
  checkSerial(cert.serial, LEAF_MIN_SERIAL_BITS);
  checkValidity(cert, opts.now, "SVID");
  return id;
}

/** The CA's issuance profile: checkLeafSvid plus BasicConstraints, both EKUs, SKI/AKI and a 128-bit serial. */
export function checkIssuedSvid(cert: CertificateInput, opts: IssuedCheckOptions): SpiffeId {
  const v = view(cert);
  const id = checkLeaf(v, { ...opts, usage: "any" });
  if (v.basicConstraints?.critical !== true) {
    fail(SvidErrorCode.BASIC_CONSTRAINTS, "an issued SVID must carry a critical BasicConstraints extension with cA=false");
  }
  const usages = v.extendedKeyUsage?.oids;
  if (!usages?.includes(EKU.serverAuth) || !usages.includes(EKU.clientAuth)) {
    fail(SvidErrorCode.EKU, "an issued SVID must carry the EKU extension with both serverAuth and clientAuth");
  }
  if (!v.hasSubjectKeyId || !v.hasAuthorityKeyId) {
    fail(SvidErrorCode.MISSING_KEY_IDENTIFIER, "an issued SVID must carry both the subject and the authority key identifier");
  }
  checkSerial(v.serial, ISSUED_MIN_SERIAL_BITS);
  return id;
}

/** Checks a CA (signing) certificate: cA=true, keyCertSign, valid at now, path-less ID of the trust domain if any. */
export function checkSigningCertificate(cert: CertificateInput, opts: SigningCheckOptions): SpiffeId | undefined {
  const v = view(cert);
  if (v.basicConstraints?.ca !== true) {
    fail(SvidErrorCode.SIGNING_CERT_NOT_CA, "a signing certificate must have BasicConstraints cA=true");
  }
  if (v.keyUsage === undefined || (v.keyUsage.flags & KU.keyCertSign) === 0) {
    fail(SvidErrorCode.SIGNING_CERT_NO_KEY_CERT_SIGN, "a signing certificate must have keyCertSign in its KeyUsage");
  }
  checkValidity(v, opts.now, "signing certificate");
  const uris = v.san?.uris ?? [];
  if (uris.length === 0) return undefined;
  const id = parseUriSan(uris);
  if (!id.isRoot) {
    fail(SvidErrorCode.SIGNING_CERT_PATH, `signing certificate ID ${id.toString()} must not have a path`);
  }
  if (!id.memberOf(opts.trustDomain)) {
    fail(SvidErrorCode.WRONG_TRUST_DOMAIN, `signing certificate ID ${id.toString()} is not in trust domain ${opts.trustDomain.name}`);
  }
  return id;
}

/** A 128-bit random serial for a new SVID, hex; the 0x01 prefix keeps it positive and exactly 129 bits long. */
export function newSerialNumberHex(random: (n: number) => Uint8Array = randomBytes): string {
  return `01${Buffer.from(random(16)).toString("hex")}`;
}

function fail(code: SvidErrorCode, message: string): never {
  throw new SvidError(code, message);
}

function parseUriSan(uris: readonly string[]): SpiffeId {
  if (uris.length > 1) fail(SvidErrorCode.MULTIPLE_URI_SANS, `certificate has ${uris.length} URI SANs; an SVID has exactly one`);
  const uri = uris[0] as string;
  try {
    return SpiffeId.parse(uri);
  } catch (err) {
    if (!(err instanceof SpiffeIdError)) throw err;
    fail(SvidErrorCode.INVALID_SPIFFE_ID, `URI SAN ${JSON.stringify(uri.slice(0, 100))} is not a SPIFFE ID: ${err.message}`);
  }
}

function leafId(san: SanView | undefined, opts: LeafCheckOptions): SpiffeId {
  const uris = san?.uris ?? [];
  if (uris.length === 0) fail(SvidErrorCode.NO_URI_SAN, "an SVID must carry its SPIFFE ID as a URI SAN");
  const id = parseUriSan(uris);
  if (id.isRoot) fail(SvidErrorCode.ROOT_ID, `leaf SVID ID ${id.toString()} must have a path`);
  if (opts.trustDomain && !id.memberOf(opts.trustDomain)) {
    fail(SvidErrorCode.WRONG_TRUST_DOMAIN, `SVID ID ${id.toString()} is not in trust domain ${opts.trustDomain.name}`);
  }
  if (opts.expectedId && !id.equals(opts.expectedId)) {
    fail(SvidErrorCode.WRONG_ID, `SVID ID ${id.toString()} is not the expected ${opts.expectedId.toString()}`);
  }
  return id;
}

function checkLeafKeyUsage(ku: CertificateView["keyUsage"]): void {
  if (ku === undefined) fail(SvidErrorCode.NO_KEY_USAGE, "an SVID must carry the KeyUsage extension");
  if (!ku.critical) fail(SvidErrorCode.KEY_USAGE_NOT_CRITICAL, "the KeyUsage extension of an SVID must be critical");
  if (ku.flags & KU.keyCertSign) fail(SvidErrorCode.KEY_CERT_SIGN, "a leaf SVID must not have keyCertSign");
  if (ku.flags & KU.cRLSign) fail(SvidErrorCode.CRL_SIGN, "a leaf SVID must not have cRLSign");
  if ((ku.flags & KU.digitalSignature) === 0) {
    fail(SvidErrorCode.NO_DIGITAL_SIGNATURE, "a leaf SVID must have digitalSignature");
  }
}

function checkEku(oids: readonly string[] | undefined, usage: SvidUsage): void {
  if (oids === undefined) return;
  const has = (oid: string): boolean => oids.includes(oid);
  const ok =
    usage === "client" ? has(EKU.clientAuth) : usage === "server" ? has(EKU.serverAuth) : has(EKU.clientAuth) || has(EKU.serverAuth);
  if (!ok) {
    const needed = usage === "client" ? "clientAuth" : usage === "server" ? "serverAuth" : "serverAuth or clientAuth";
    fail(SvidErrorCode.EKU, `the SVID's extended key usage does not allow ${needed}`);
  }
}

function checkValidity(cert: CertificateView, now: Date, what: string): void {
  const t = now.getTime();
  if (t < cert.notBefore) {
    fail(SvidErrorCode.NOT_YET_VALID, `${what} is not valid before ${new Date(cert.notBefore).toISOString()}`);
  }
  if (t > cert.notAfter) {
    fail(SvidErrorCode.EXPIRED, `${what} expired at ${new Date(cert.notAfter).toISOString()}`);
  }
}

/** Serial rules on the INTEGER's content octets as encoded (a negative serial gets SVID_SERIAL, not SVID_MALFORMED). */
function checkSerial(serial: Uint8Array, minBits: number): void {
  const first = serial[0] ?? 0;
  if (first & 0x80) fail(SvidErrorCode.SERIAL, "serial number must be positive (RFC 5280)");
  // DER INTEGERs are minimal: a leading zero octet only before an octet with its top bit set.
  if (first === 0 && serial.length > 1 && ((serial[1] as number) & 0x80) === 0) {
    fail(SvidErrorCode.MALFORMED, "serial number is not minimally encoded (DER)");
  }
  if (serial.length > MAX_SERIAL_OCTETS) fail(SvidErrorCode.SERIAL, "serial number must be at most 20 octets (RFC 5280)");
  const bits = bitLength(serial);
  if (bits === 0) fail(SvidErrorCode.SERIAL, "serial number must be positive (RFC 5280)");
  if (bits < minBits) fail(SvidErrorCode.SERIAL, `serial number has ${bits} bits; at least ${minBits} random bits are required`);
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  const top = bytes[i];
  if (top === undefined) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(top));
}
