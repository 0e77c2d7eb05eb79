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
 */
import { randomBytes } from "node:crypto";
import { x509 } from "../x509.js";
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

const OID = {
  san: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  eku: "2.5.29.37",
  ski: "2.5.29.14",
  aki: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

const KU = x509.KeyUsageFlags;
const LEAF_MIN_SERIAL_BITS = 64;
const ISSUED_MIN_SERIAL_BITS = 128;
const MAX_SERIAL_OCTETS = 20;

interface Extensions {
  san?: x509.SubjectAlternativeNameExtension;
  basicConstraints?: x509.BasicConstraintsExtension;
  keyUsage?: x509.KeyUsagesExtension;
  eku?: x509.ExtendedKeyUsageExtension;
  hasSki: boolean;
  hasAki: boolean;
}

/** Checks every leaf X.509-SVID rule and returns the SVID's SPIFFE ID; throws SvidError. */
export function checkLeafSvid(cert: x509.X509Certificate, opts: LeafCheckOptions): SpiffeId {
  return checkLeaf(cert, readExtensions(cert), opts);
}

function checkLeaf(cert: x509.X509Certificate, ext: Extensions, opts: LeafCheckOptions): SpiffeId {
  const id = leafId(ext, opts);
  if (ext.san?.critical !== true && isSubjectEmpty(cert)) {
    fail(SvidErrorCode.EMPTY_SUBJECT_SAN_NOT_CRITICAL, "an SVID with an empty subject must mark its SAN extension critical (RFC 5280 §4.1.2.6)");
  }
  if (ext.basicConstraints?.ca === true) {
    fail(SvidErrorCode.CA_LEAF, "a leaf SVID must have BasicConstraints cA=false");
  }
  checkLeafKeyUsage(ext.keyUsage);
  checkEku(ext.eku, opts.usage ?? "any");
  checkSerial(cert, LEAF_MIN_SERIAL_BITS);
  checkValidity(cert, opts.now, "SVID");
  return id;
}

/** The CA's issuance profile: checkLeafSvid plus BasicConstraints, both EKUs, SKI/AKI and a 128-bit serial. */
export function checkIssuedSvid(cert: x509.X509Certificate, opts: IssuedCheckOptions): SpiffeId {
  const ext = readExtensions(cert);
  const id = checkLeaf(cert, ext, { ...opts, usage: "any" });
  if (ext.basicConstraints?.critical !== true) {
    fail(SvidErrorCode.BASIC_CONSTRAINTS, "an issued SVID must carry a critical BasicConstraints extension with cA=false");
  }
  const usages = ext.eku?.usages;
  if (!usages?.includes(OID.serverAuth) || !usages.includes(OID.clientAuth)) {
    fail(SvidErrorCode.EKU, "an issued SVID must carry the EKU extension with both serverAuth and clientAuth");
  }
  if (!ext.hasSki || !ext.hasAki) {
    fail(SvidErrorCode.MISSING_KEY_IDENTIFIER, "an issued SVID must carry both the subject and the authority key identifier");
  }
  checkSerial(cert, ISSUED_MIN_SERIAL_BITS);
  return id;
}

/** Checks a CA (signing) certificate: cA=true, keyCertSign, valid at now, path-less ID of the trust domain if any. */
export function checkSigningCertificate(cert: x509.X509Certificate, opts: SigningCheckOptions): SpiffeId | undefined {
  const ext = readExtensions(cert);
  if (ext.basicConstraints?.ca !== true) {
    fail(SvidErrorCode.SIGNING_CERT_NOT_CA, "a signing certificate must have BasicConstraints cA=true");
  }
  if (ext.keyUsage === undefined || (ext.keyUsage.usages & KU.keyCertSign) === 0) {
    fail(SvidErrorCode.SIGNING_CERT_NO_KEY_CERT_SIGN, "a signing certificate must have keyCertSign in its KeyUsage");
  }
  checkValidity(cert, opts.now, "signing certificate");
  const uris = uriSans(ext.san);
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

function readExtensions(cert: x509.X509Certificate): Extensions {
  let all: x509.Extension[];
  try {
    all = cert.extensions;
  } catch (err) {
    fail(SvidErrorCode.MALFORMED, `certificate extensions cannot be parsed: ${(err as Error).message}`);
  }
  const out: Extensions = { hasSki: false, hasAki: false };
  const seen = new Set<string>();
  for (const e of all) {
    // RFC 5280 §4.2: an extension appears at most once; two SANs could hide a second ID.
    if (seen.has(e.type)) fail(SvidErrorCode.DUPLICATE_EXTENSION, `extension ${e.type} appears more than once`);
    seen.add(e.type);
    if (e instanceof x509.SubjectAlternativeNameExtension) out.san = e;
    else if (e instanceof x509.BasicConstraintsExtension) out.basicConstraints = e;
    else if (e instanceof x509.KeyUsagesExtension) out.keyUsage = e;
    else if (e instanceof x509.ExtendedKeyUsageExtension) out.eku = e;
    else if (e.type === OID.ski) out.hasSki = true;
    else if (e.type === OID.aki) out.hasAki = true;
  }
  return out;
}

function uriSans(san: x509.SubjectAlternativeNameExtension | undefined): string[] {
  const uris: string[] = [];
  if (san) for (const name of san.names.items) if (name.type === "url") uris.push(name.value);
  return uris;
}

function parseUriSan(uris: string[]): SpiffeId {
  if (uris.length > 1) fail(SvidErrorCode.MULTIPLE_URI_SANS, `certificate has ${uris.length} URI SANs; an SVID has exactly one`);
  const uri = uris[0] as string;
  try {
    return SpiffeId.parse(uri);
  } catch (err) {
    if (!(err instanceof SpiffeIdError)) throw err;
    fail(SvidErrorCode.INVALID_SPIFFE_ID, `URI SAN ${JSON.stringify(uri.slice(0, 100))} is not a SPIFFE ID: ${err.message}`);
  }
}

function leafId(ext: Extensions, opts: LeafCheckOptions): SpiffeId {
  const uris = uriSans(ext.san);
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

function isSubjectEmpty(cert: x509.X509Certificate): boolean {
  return cert.subjectName.toJSON().length === 0;
}

function checkLeafKeyUsage(ku: x509.KeyUsagesExtension | undefined): void {
  if (ku === undefined) fail(SvidErrorCode.NO_KEY_USAGE, "an SVID must carry the KeyUsage extension");
  if (!ku.critical) fail(SvidErrorCode.KEY_USAGE_NOT_CRITICAL, "the KeyUsage extension of an SVID must be critical");
  if (ku.usages & KU.keyCertSign) fail(SvidErrorCode.KEY_CERT_SIGN, "a leaf SVID must not have keyCertSign");
  if (ku.usages & KU.cRLSign) fail(SvidErrorCode.CRL_SIGN, "a leaf SVID must not have cRLSign");
  if ((ku.usages & KU.digitalSignature) === 0) {
    fail(SvidErrorCode.NO_DIGITAL_SIGNATURE, "a leaf SVID must have digitalSignature");
  }
}

function checkEku(eku: x509.ExtendedKeyUsageExtension | undefined, usage: SvidUsage): void {
  if (eku === undefined) return;
  const has = (oid: string): boolean => eku.usages.includes(oid);
  const ok =
    usage === "client" ? has(OID.clientAuth) : usage === "server" ? has(OID.serverAuth) : has(OID.clientAuth) || has(OID.serverAuth);
  if (!ok) {
    const needed = usage === "client" ? "clientAuth" : usage === "server" ? "serverAuth" : "serverAuth or clientAuth";
    fail(SvidErrorCode.EKU, `the SVID's extended key usage does not allow ${needed}`);
  }
}

function checkValidity(cert: x509.X509Certificate, now: Date, what: string): void {
  const t = now.getTime();
  if (t < cert.notBefore.getTime()) {
    fail(SvidErrorCode.NOT_YET_VALID, `${what} is not valid before ${cert.notBefore.toISOString()}`);
  }
  if (t > cert.notAfter.getTime()) {
    fail(SvidErrorCode.EXPIRED, `${what} expired at ${cert.notAfter.toISOString()}`);
  }
}

function checkSerial(cert: x509.X509Certificate, minBits: number): void {
  const serial = serialOctets(new Uint8Array(cert.rawData));
  if (serial === undefined) fail(SvidErrorCode.MALFORMED, "certificate serial number cannot be read");
  const first = serial[0] ?? 0;
  if (first & 0x80) fail(SvidErrorCode.SERIAL, "serial number must be positive (RFC 5280)");
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

/**
 * The content octets of tbsCertificate.serialNumber, read straight from the
 * DER: @peculiar/x509 reports the serial as hex without its sign, and a
 * negative serial must be told apart from a positive one.
 */
function serialOctets(der: Uint8Array): Uint8Array | undefined {
  const cert = readTlv(der, 0);
  if (cert?.tag !== 0x30) return undefined;
  const tbs = readTlv(der, cert.start);
  if (tbs?.tag !== 0x30) return undefined;
  let field = readTlv(der, tbs.start);
  if (field?.tag === 0xa0) field = readTlv(der, field.end); // explicit [0] version
  if (field?.tag !== 0x02) return undefined;
  return der.subarray(field.start, field.end);
}

function readTlv(der: Uint8Array, offset: number): { tag: number; start: number; end: number } | undefined {
  const tag = der[offset];
  let len = der[offset + 1];
  if (tag === undefined || len === undefined) return undefined;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  return end <= der.length ? { tag, start, end } : undefined;
}
