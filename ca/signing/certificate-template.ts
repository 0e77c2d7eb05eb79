/**
 * The issuance fast path: X.509-SVID DER built from parts prepared once per
 * signing key (issuer name, signature algorithm, authority key identifier and
 * the fixed extensions), so a certificate costs a few buffer copies, one
 * SHA-1 and one signature with a node:crypto KeyObject.
 *
 * Layout (RFC 5280 §4.1, X509-SVID §4), in this order:
 *   version v3, serial, signature, issuer, validity, subject (empty), SPKI,
 *   extensions: basicConstraints (critical, cA=false), keyUsage (critical,
 *   digitalSignature), extKeyUsage (serverAuth, clientAuth),
 *   subjectKeyIdentifier, authorityKeyIdentifier, subjectAltName (critical
 *   because the subject is empty).
 * certificate-template.test.ts proves the bytes equal what @peculiar/x509's
 * X509CertificateGenerator makes from the same inputs.
 */
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import * as nodeCrypto from "node:crypto";
import { createHash, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { malformed } from "../../lib/der/errors.js";
import { readOid } from "../../lib/der/oid.js";
import { children, DerCursor, elementBytes } from "../../lib/der/reader.js";
import { DerTag } from "../../lib/der/tags.js";
import { readBitStringOctets } from "../../lib/der/values.js";
import { elementSize, encodeOid, sequence, timeSize, tlv, unsignedIntegerContent, writeHeader, writeTime } from "./der-writer.js";
import { signatureSchemeFor, type SignatureScheme } from "./keys.js";

/** The certificate-specific parts of an SVID. */
export interface SvidFields {
  /** Big-endian serial magnitude (positive; lib/spiffe newSerialNumberHex gives 0x01 + 16 random bytes). */
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER of the workload key. */
  spki: Uint8Array;
  /** The BIT STRING contents of spki's subjectPublicKey (for the key identifier). */
  subjectPublicKey: Uint8Array;
  /** URI SANs: the SPIFFE ID, exactly one for a workload. */
  uris: readonly string[];
  /** DNS SANs (the API's serving certificate only). */
  dnsNames?: readonly string[];
  /** IP address SANs (the API's serving certificate only). */
  ipAddresses?: readonly string[];
}

const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

const TRUE = Uint8Array.of(DerTag.BOOLEAN, 1, 0xff);
const VERSION_V3 = Uint8Array.of(0xa0, 0x03, DerTag.INTEGER, 0x01, 0x02);
const EMPTY_NAME = Uint8Array.of(DerTag.SEQUENCE, 0x00);
const TAG_EXTENSIONS = 0xa3;
const TAG_KEY_ID = 0x80;
const GENERAL_NAME = { dns: 0x82, uri: 0x86, ip: 0x87 } as const;

const ENCODED_OID = {
  subjectKeyIdentifier: encodeOid(OID.subjectKeyIdentifier),
  subjectAltName: encodeOid(OID.subjectAltName),
};
const SHA1_SIZE = 20;

function extension(oid: string | Buffer, critical: boolean, value: Uint8Array): Buffer {
  const encodedOid = typeof oid === "string" ? encodeOid(oid) : oid;
  return critical ? sequence(encodedOid, TRUE, tlv(DerTag.OCTET_STRING, value)) : sequence(encodedOid, tlv(DerTag.OCTET_STRING, value));
}

/** Extensions identical in every SVID. */
const FIXED_LEADING_EXTENSIONS = Buffer.concat([
  extension(OID.basicConstraints, true, sequence()),
  // digitalSignature is bit 0: one content byte 0x80 with 7 unused bits (DER drops trailing zero bits).
  extension(OID.keyUsage, true, Uint8Array.of(DerTag.BIT_STRING, 0x02, 0x07, 0x80)),
  extension(OID.extKeyUsage, false, sequence(encodeOid(OID.serverAuth), encodeOid(OID.clientAuth))),
]);

/** SHA-1 in one call where node has crypto.hash (20.12+): about 1 µs less than createHash().update().digest(). */
const sha1: (data: Uint8Array) => Buffer =
  typeof (nodeCrypto as { hash?: unknown }).hash === "function"
    ? (data) => nodeCrypto.hash("sha1", data, "buffer")
    : (data) => createHash("sha1").update(data).digest();

/** subjectKeyIdentifier extension up to its 20-byte SHA-1 key identifier, which follows it. */
const SKI_EXTENSION_PREFIX = (() => {
  const whole = extension(ENCODED_OID.subjectKeyIdentifier, false, tlv(DerTag.OCTET_STRING, new Uint8Array(SHA1_SIZE)));
  return whole.subarray(0, whole.length - SHA1_SIZE);
})();

/** Everything about the signer that is the same in every certificate it issues. */
export class CertificateTemplate {
  private readonly authorityKeyIdExtension: Buffer;

  private constructor(
    private readonly signingKey: KeyObject,
    private readonly scheme: SignatureScheme,
    private readonly issuerName: Buffer,
    authorityKeyId: Uint8Array,
  ) {
    this.authorityKeyIdExtension = extension(OID.authorityKeyIdentifier, false, sequence(tlv(TAG_KEY_ID, authorityKeyId)));
  }

  /**
   * Prepares the template for a signing certificate and its private key.
   * The AKI is the signer's own SKI when it has one (plug-in CAs may not use
   * SHA-1 key IDs), else the SHA-1 of its public key.
   */
  static forSigner(signingCert: NodeX509Certificate, signingKey: KeyObject): CertificateTemplate {
    const { subject, subjectKeyId, subjectPublicKey } = readSignerFields(signingCert.raw);
    const keyId = subjectKeyId ?? createHash("sha1").update(subjectPublicKey).digest();
    return new CertificateTemplate(signingKey, signatureSchemeFor(signingKey), Buffer.from(subject), keyId);
  }

  /**
   * The DER of the TBSCertificate for these fields, written into one buffer:
   * sizes first, then every element in place (no intermediate parts to
   * concatenate; the per-request allocations were a visible share of an
   * issuance in CPU profiles).
   */
  tbsCertificate(fields: SvidFields): Buffer {
    const keyId = sha1(fields.subjectPublicKey);
    const serial = unsignedIntegerContent(fields.serial);
    const names = generalNames(fields);
    let namesSize = 0;
    for (const name of names) namesSize += elementSize(name.length);
    const sanValueSize = elementSize(namesSize);
    const sanOctetsSize = elementSize(sanValueSize);
    const sanExtensionContent = ENCODED_OID.subjectAltName.length + TRUE.length + sanOctetsSize;
    const extensionsContent =
      FIXED_LEADING_EXTENSIONS.length + SKI_EXTENSION_PREFIX.length + keyId.length + this.authorityKeyIdExtension.length + elementSize(sanExtensionContent);
    const validityContent = timeSize(fields.notBefore) + timeSize(fields.notAfter);
    const algorithm = this.scheme.algorithmIdentifier;
    const tbsContent =
      VERSION_V3.length +
      elementSize(serial.length) +
      algorithm.length +
      this.issuerName.length +
      elementSize(validityContent) +
      EMPTY_NAME.length +
      fields.spki.length +
      elementSize(elementSize(extensionsContent));

    const out = Buffer.allocUnsafe(elementSize(tbsContent));
    let at = writeHeader(out, 0, DerTag.SEQUENCE, tbsContent);
    at = put(out, at, VERSION_V3);
    at = put(out, writeHeader(out, at, DerTag.INTEGER, serial.length), serial);
    at = put(out, at, algorithm);
    at = put(out, at, this.issuerName);
    at = writeHeader(out, at, DerTag.SEQUENCE, validityContent);
    at = writeTime(out, writeTime(out, at, fields.notBefore), fields.notAfter);
    at = put(out, at, EMPTY_NAME);
    at = put(out, at, fields.spki);
    at = writeHeader(out, at, TAG_EXTENSIONS, elementSize(extensionsContent));
    at = writeHeader(out, at, DerTag.SEQUENCE, extensionsContent);
    at = put(out, at, FIXED_LEADING_EXTENSIONS);
    at = put(out, put(out, at, SKI_EXTENSION_PREFIX), keyId);
    at = put(out, at, this.authorityKeyIdExtension);
    at = writeHeader(out, at, DerTag.SEQUENCE, sanExtensionContent);
    at = put(out, put(out, at, ENCODED_OID.subjectAltName), TRUE);
    at = writeHeader(out, at, DerTag.OCTET_STRING, sanValueSize);
    at = writeHeader(out, at, DerTag.SEQUENCE, namesSize);
    for (const name of names) {
      at = writeHeader(out, at, name.tag, name.length);
      at = typeof name.value === "string" ? at + out.write(name.value, at, "latin1") : put(out, at, name.value);
    }
    if (at !== out.length) throw new Error(`certificate template wrote ${at} of ${out.length} bytes`);
    return out;
  }

  /** Builds and signs the certificate; returns its DER. */
  issue(fields: SvidFields): Buffer {
    const tbs = this.tbsCertificate(fields);
    const signature = sign(this.scheme.hash, tbs, this.signingKey);
    const algorithm = this.scheme.algorithmIdentifier;
    const content = tbs.length + algorithm.length + elementSize(1 + signature.length);
    const out = Buffer.allocUnsafe(elementSize(content));
    let at = put(out, writeHeader(out, 0, DerTag.SEQUENCE, content), tbs);
    at = put(out, at, algorithm);
    at = writeHeader(out, at, DerTag.BIT_STRING, 1 + signature.length);
    out[at++] = 0; // no unused bits
    put(out, at, signature);
    return out;
  }
}

/** Copies `bytes` into `out` at `at`; returns the offset after them. */
function put(out: Buffer, at: number, bytes: Uint8Array): number {
  out.set(bytes, at);
  return at + bytes.length;
}

/** One GeneralName to write: a latin1 string (URI, DNS) or bytes (IP). */
interface GeneralNameParts {
  tag: number;
  length: number;
  value: string | Uint8Array;
}

function generalNames(fields: SvidFields): GeneralNameParts[] {
  const names: GeneralNameParts[] = [];
  for (const uri of fields.uris) names.push({ tag: GENERAL_NAME.uri, length: uri.length, value: uri });
  for (const dns of fields.dnsNames ?? []) names.push({ tag: GENERAL_NAME.dns, length: dns.length, value: dns });
  for (const ip of fields.ipAddresses ?? []) {
    const bytes = ipBytes(ip);
    names.push({ tag: GENERAL_NAME.ip, length: bytes.length, value: bytes });
  }
  return names;
}

/** Network-order bytes of an IPv4 or IPv6 literal (as validated by net.isIP). */
export function ipBytes(ip: string): Buffer {
  const version = isIP(ip);
  if (version === 4) return Buffer.from(ip.split(".").map(Number));
  if (version !== 6) throw new Error(`${ip} is not an IP address`);
  let text = ip;
  let tail: number[] = [];
  const embedded = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (embedded) {
    const [a, b, c, d] = embedded.slice(2).map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    const prefix = embedded[1] as string;
    text = prefix.endsWith("::") ? prefix : prefix.slice(0, -1);
  }
  const [head = "", rest] = text.split("::");
  const groups = (part: string): number[] => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const left = groups(head);
  const right = [...groups(rest ?? ""), ...tail];
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...new Array<number>(zeros).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g & 0xffff, i * 2));
  return out;
}

/** Subject name DER, SKI and key bits of a certificate, by a DER walk (throws DerError). */
function readSignerFields(der: Uint8Array): { subject: Uint8Array; subjectKeyId?: Uint8Array; subjectPublicKey: Uint8Array } {
  const cert = new DerCursor(der).expect(DerTag.SEQUENCE, "Certificate");
  const tbs = DerCursor.inside(der, cert).expect(DerTag.SEQUENCE, "TBSCertificate");
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  const spki = fields[offset + 5];
  if (!subject || !spki) malformed("signing certificate is truncated");
  const [, keyBits] = children(der, spki);
  if (!keyBits) malformed("signing certificate has no public key");
  let subjectKeyId: Uint8Array | undefined;
  const extensions = fields.find((f) => f.tag === TAG_EXTENSIONS);
  if (extensions) {
    const list = DerCursor.inside(der, extensions).next();
    for (const ext of children(der, list)) {
      const parts = children(der, ext);
      const oid = parts[0];
      const value = parts[parts.length - 1];
      if (oid && value && readOid(der, oid, "extnID") === OID.subjectKeyIdentifier) {
        const id = DerCursor.inside(der, value).expect(DerTag.OCTET_STRING, "subjectKeyIdentifier");
        subjectKeyId = der.subarray(id.start, id.end);
      }
    }
  }
  return {
    subject: elementBytes(der, subject),
    subjectPublicKey: readBitStringOctets(der, keyBits, "subjectPublicKey"),
    ...(subjectKeyId ? { subjectKeyId } : {}),
  };
}

/** PEM text of one DER certificate, 64 columns, trailing newline. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}
