/**
 * What the X.509-SVID checks read from a certificate, taken straight from its
 * DER with the strict reader of lib/der. This is the whole cost of a check:
 * about a hundredth of building an @peculiar/x509 certificate and decoding
 * its extensions with the library's schemas (see svid.ts).
 *
 * Read and validated: the Certificate / TBSCertificate skeleton (RFC 5280
 * §4.1, no trailing bytes anywhere), version, serial, validity, whether the
 * subject is empty, and every extension's OID, critical flag and value; the
 * values of SAN, BasicConstraints, KeyUsage, EKU, SKI and AKI are decoded.
 * Not decoded: names' attributes, the public key, the signature, and the
 * values of other extensions (OpenSSL decodes those during the chain check).
 *
 * Decisions: an explicitly encoded DEFAULT FALSE (critical, cA) is accepted,
 * as Go's and OpenSSL's parsers do, though DER says to omit it; the serial is
 * kept as encoded so svid.ts can name a negative one (SVID_SERIAL) rather
 * than call it malformed.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import type { CertificateInput } from "./certificates.js";
import { DerError, malformed } from "../der/errors.js";
import { readOid } from "../der/oid.js";
import { DerCursor, type DerElement, soleElement } from "../der/reader.js";
import { DerTag } from "../der/tags.js";
import { readBitString, readBoolean, readIa5, readSmallInteger, readTime } from "../der/values.js";
import { SvidError, SvidErrorCode } from "./errors.js";

/** Extension OIDs the checks read. */
export const ExtensionOid = {
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
} as const;

/** KeyUsage bits as flags, numbered like @peculiar/x509's KeyUsageFlags (bit n of the BIT STRING = 1 << n). */
export const KeyUsageFlag = {
  digitalSignature: 1,
  keyCertSign: 32,
  cRLSign: 64,
} as const;

/** The decoded SubjectAltName extension. */
export interface SanView {
  readonly critical: boolean;
  /** uniformResourceIdentifier names, in order. */
  readonly uris: readonly string[];
  /** How many names of other kinds (DNS, IP, email, ...) it holds. */
  readonly otherNames: number;
}

/** The fields of a certificate the SVID checks use. */
export interface CertificateView {
  /** Content octets of serialNumber, two's complement as encoded. */
  readonly serial: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly subjectEmpty: boolean;
  readonly san?: SanView;
  readonly basicConstraints?: { readonly critical: boolean; readonly ca: boolean };
  readonly keyUsage?: { readonly critical: boolean; readonly flags: number };
  readonly extendedKeyUsage?: { readonly critical: boolean; readonly oids: readonly string[] };
  readonly hasSubjectKeyId: boolean;
  readonly hasAuthorityKeyId: boolean;
}

// Context-specific tags of TBSCertificate and GeneralName.
const VERSION = 0xa0;
const ISSUER_UID = 0x81;
const SUBJECT_UID = 0x82;
const EXTENSIONS = 0xa3;
const GN_URI = 0x86;
/** GeneralName alternatives (RFC 5280 §4.2.1.6) other than the URI. */
const GN_OTHER = new Set([0xa0, 0x81, 0x82, 0xa3, 0xa4, 0xa5, 0x87, 0x88]);
const V3 = 2;

/** The DER bytes of any certificate form the project handles (no copy). */
export function certificateDer(cert: CertificateInput): Uint8Array {
  if (cert instanceof Uint8Array) return cert;
  if (cert instanceof NodeX509Certificate) return cert.raw;
  return new Uint8Array(cert.rawData);
}

/** Reads a certificate's DER; throws SvidError SVID_MALFORMED, or SVID_DUPLICATE_EXTENSION. */
export function readCertificateView(der: Uint8Array): CertificateView {
  try {
    return readView(der);
  } catch (err) {
    // The edge between the DER reader and the SVID checks: callers switch on SvidError codes only.
    if (err instanceof DerError) throw new SvidError(SvidErrorCode.MALFORMED, `certificate is not valid DER: ${err.message}`, { cause: err });
    throw err;
  }
}

function readView(der: Uint8Array): CertificateView {
  const top = new DerCursor(der);
  const certificate = top.expect(DerTag.SEQUENCE, "Certificate");
  top.finish("Certificate");
  const c = DerCursor.inside(der, certificate);
  const tbs = c.expect(DerTag.SEQUENCE, "tbsCertificate");
  c.expect(DerTag.SEQUENCE, "signatureAlgorithm");
  readBitString(der, c.expect(DerTag.BIT_STRING, "signatureValue"), "signatureValue");
  c.finish("Certificate");

  const t = DerCursor.inside(der, tbs);
  const versionField = t.optional(VERSION, "version");
  const version = versionField ? readSmallInteger(der, soleElement(der, versionField, DerTag.INTEGER, "version"), "version") : 0;
  if (version > V3) malformed(`unknown certificate version ${version + 1}`, versionField?.offset);
  const serialField = t.expect(DerTag.INTEGER, "serialNumber");
  if (serialField.end === serialField.start) malformed("serialNumber is empty", serialField.offset);
  t.expect(DerTag.SEQUENCE, "signature");
  t.expect(DerTag.SEQUENCE, "issuer");
  const validity = DerCursor.inside(der, t.expect(DerTag.SEQUENCE, "validity"));
  const notBefore = readTime(der, validity.next(), "notBefore");
  const notAfter = readTime(der, validity.next(), "notAfter");
  validity.finish("validity");
  const subject = t.expect(DerTag.SEQUENCE, "subject");
  t.expect(DerTag.SEQUENCE, "subjectPublicKeyInfo");
  if (version >= 1) {
    t.optional(ISSUER_UID, "issuerUniqueID");
    t.optional(SUBJECT_UID, "subjectUniqueID");
  }
  const extensionsField = version === V3 ? t.optional(EXTENSIONS, "extensions") : undefined;
  t.finish("tbsCertificate");

  const view: Mutable<CertificateView> = {
    serial: der.subarray(serialField.start, serialField.end),
    notBefore,
    notAfter,
    subjectEmpty: subject.start === subject.end,
    hasSubjectKeyId: false,
    hasAuthorityKeyId: false,
  };
  if (extensionsField) readExtensions(der, soleElement(der, extensionsField, DerTag.SEQUENCE, "extensions"), view);
  return view;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function readExtensions(der: Uint8Array, list: DerElement, view: Mutable<CertificateView>): void {
  if (list.start === list.end) malformed("extensions: an empty list must be left out (RFC 5280: SIZE (1..MAX))", list.offset);
  const seen = new Set<string>();
  let duplicate: string | undefined;
  for (const c = DerCursor.inside(der, list); !c.done; ) {
    const ext = DerCursor.inside(der, c.expect(DerTag.SEQUENCE, "Extension"));
    const oid = readOid(der, ext.expect(DerTag.OID, "extnID"), "extnID");
    const criticalField = ext.optional(DerTag.BOOLEAN, "critical");
    const critical = criticalField ? readBoolean(der, criticalField, "critical") : false;
    const value = ext.expect(DerTag.OCTET_STRING, `extension ${oid}`);
    ext.finish(`extension ${oid}`);
    // RFC 5280 §4.2: an extension appears at most once; two SANs could hide a
    // second ID. Reported after every value is decoded, so a certificate that
    // is also malformed is called malformed, whichever comes first.
    if (seen.has(oid)) duplicate ??= oid;
    seen.add(oid);
    switch (oid) {
      case ExtensionOid.subjectAltName:
        view.san = readSan(der, value, critical);
        break;
      case ExtensionOid.basicConstraints:
        view.basicConstraints = { critical, ca: readBasicConstraintsCa(der, value) };
        break;
      case ExtensionOid.keyUsage:
        view.keyUsage = { critical, flags: readKeyUsage(der, value) };
        break;
      case ExtensionOid.extendedKeyUsage:
        view.extendedKeyUsage = { critical, oids: readEku(der, value) };
        break;
      case ExtensionOid.subjectKeyIdentifier:
        soleElement(der, value, DerTag.OCTET_STRING, "subjectKeyIdentifier");
        view.hasSubjectKeyId = true;
        break;
      case ExtensionOid.authorityKeyIdentifier:
        soleElement(der, value, DerTag.SEQUENCE, "authorityKeyIdentifier");
        view.hasAuthorityKeyId = true;
        break;
    }
  }
  if (duplicate !== undefined) throw new SvidError(SvidErrorCode.DUPLICATE_EXTENSION, `extension ${duplicate} appears more than once`);
}

function readSan(der: Uint8Array, value: DerElement, critical: boolean): SanView {
  const names = DerCursor.inside(der, soleElement(der, value, DerTag.SEQUENCE, "subjectAltName"));
  const uris: string[] = [];
  let otherNames = 0;
  while (!names.done) {
    const name = names.next();
    if (name.tag === GN_URI) uris.push(readIa5(der, name, "URI SAN"));
    else if (GN_OTHER.has(name.tag)) otherNames++;
    else malformed(`subjectAltName: unknown GeneralName tag 0x${name.tag.toString(16)}`, name.offset);
  }
  return { critical, uris, otherNames };
}

function readBasicConstraintsCa(der: Uint8Array, value: DerElement): boolean {
  const bc = DerCursor.inside(der, soleElement(der, value, DerTag.SEQUENCE, "basicConstraints"));
  const caField = bc.optional(DerTag.BOOLEAN, "cA");
  const ca = caField ? readBoolean(der, caField, "cA") : false;
  const pathLen = bc.optional(DerTag.INTEGER, "pathLenConstraint");
  if (pathLen && pathLen.end === pathLen.start) malformed("pathLenConstraint is empty", pathLen.offset);
  bc.finish("basicConstraints");
  return ca;
}

function readKeyUsage(der: Uint8Array, value: DerElement): number {
  const { bytes } = readBitString(der, soleElement(der, value, DerTag.BIT_STRING, "keyUsage"), "keyUsage");
  let flags = 0;
  // Nine named bits (digitalSignature … decipherOnly) fit in two octets; later bits have no name.
  for (let i = 0; i < bytes.length && i < 2; i++) {
    const octet = bytes[i] as number;
    for (let bit = 0; bit < 8; bit++) if (octet & (0x80 >> bit)) flags |= 1 << (i * 8 + bit);
  }
  return flags;
}

function readEku(der: Uint8Array, value: DerElement): string[] {
  const purposes = DerCursor.inside(der, soleElement(der, value, DerTag.SEQUENCE, "extendedKeyUsage"));
  const oids: string[] = [];
  while (!purposes.done) oids.push(readOid(der, purposes.expect(DerTag.OID, "KeyPurposeId"), "KeyPurposeId"));
  return oids;
}
