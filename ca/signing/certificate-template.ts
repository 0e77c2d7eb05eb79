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
import type { X509Certificate as NodeX509Certificate} from "node:crypto";
import { createHash, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import {
  children,
  decodeOid,
  elementBytes,
  encodeBitString,
  encodeOid,
  encodeTime,
  encodeUnsignedInteger,
  expectTlv,
  readTlv,
  sequence,
  Tag,
  tlv,
  bitStringBytes,
} from "./der.js";
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

const TRUE = Uint8Array.of(Tag.BOOLEAN, 1, 0xff);
const VERSION_V3 = Uint8Array.of(0xa0, 0x03, Tag.INTEGER, 0x01, 0x02);
const EMPTY_NAME = Uint8Array.of(Tag.SEQUENCE, 0x00);
const TAG_EXTENSIONS = 0xa3;
const TAG_KEY_ID = 0x80;
const GENERAL_NAME = { dns: 0x82, uri: 0x86, ip: 0x87 } as const;

const ENCODED_OID = {
  subjectKeyIdentifier: encodeOid(OID.subjectKeyIdentifier),
  subjectAltName: encodeOid(OID.subjectAltName),
};

function extension(oid: string | Buffer, critical: boolean, value: Uint8Array): Buffer {
  const encodedOid = typeof oid === "string" ? encodeOid(oid) : oid;
  return critical ? sequence(encodedOid, TRUE, tlv(Tag.OCTET_STRING, value)) : sequence(encodedOid, tlv(Tag.OCTET_STRING, value));
}

/** Extensions identical in every SVID. */
const FIXED_LEADING_EXTENSIONS = Buffer.concat([
  extension(OID.basicConstraints, true, sequence()),
  // digitalSignature is bit 0: one content byte 0x80 with 7 unused bits (DER drops trailing zero bits).
  extension(OID.keyUsage, true, Uint8Array.of(Tag.BIT_STRING, 0x02, 0x07, 0x80)),
  extension(OID.extKeyUsage, false, sequence(encodeOid(OID.serverAuth), encodeOid(OID.clientAuth))),
]);

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

  /** The DER of the TBSCertificate for these fields. */
  tbsCertificate(fields: SvidFields): Buffer {
    const keyId = createHash("sha1").update(fields.subjectPublicKey).digest();
    const extensions = tlv(
      TAG_EXTENSIONS,
      sequence(
        FIXED_LEADING_EXTENSIONS,
        extension(ENCODED_OID.subjectKeyIdentifier, false, tlv(Tag.OCTET_STRING, keyId)),
        this.authorityKeyIdExtension,
        extension(ENCODED_OID.subjectAltName, true, subjectAltNames(fields)),
      ),
    );
    return sequence(
      VERSION_V3,
      encodeUnsignedInteger(fields.serial),
      this.scheme.algorithmIdentifier,
      this.issuerName,
      sequence(encodeTime(fields.notBefore), encodeTime(fields.notAfter)),
      EMPTY_NAME,
      fields.spki,
      extensions,
    );
  }

  /** Builds and signs the certificate; returns its DER. */
  issue(fields: SvidFields): Buffer {
    const tbs = this.tbsCertificate(fields);
    const signature = sign(this.scheme.hash, tbs, this.signingKey);
    return sequence(tbs, this.scheme.algorithmIdentifier, encodeBitString(signature));
  }
}

function subjectAltNames(fields: SvidFields): Buffer {
  const names: Buffer[] = fields.uris.map((uri) => tlv(GENERAL_NAME.uri, Buffer.from(uri, "latin1")));
  for (const dns of fields.dnsNames ?? []) names.push(tlv(GENERAL_NAME.dns, Buffer.from(dns, "latin1")));
  for (const ip of fields.ipAddresses ?? []) names.push(tlv(GENERAL_NAME.ip, ipBytes(ip)));
  return sequence(...names);
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

/** Subject name DER, SKI and key bits of a certificate, by a DER walk. */
function readSignerFields(der: Uint8Array): { subject: Uint8Array; subjectKeyId?: Uint8Array; subjectPublicKey: Uint8Array } {
  const cert = expectTlv(der, 0, der.length, Tag.SEQUENCE, "Certificate");
  const tbs = expectTlv(der, cert.start, cert.end, Tag.SEQUENCE, "TBSCertificate");
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  const spki = fields[offset + 5];
  if (!subject || !spki) throw new Error("signing certificate is truncated");
  const [, keyBits] = children(der, spki);
  if (!keyBits) throw new Error("signing certificate has no public key");
  let subjectKeyId: Uint8Array | undefined;
  const extensions = fields.find((f) => f.tag === TAG_EXTENSIONS);
  if (extensions) {
    const list = readTlv(der, extensions.start, extensions.end);
    for (const ext of children(der, list)) {
      const parts = children(der, ext);
      const oid = parts[0];
      const value = parts[parts.length - 1];
      if (oid && value && decodeOid(der, oid) === OID.subjectKeyIdentifier) {
        const id = expectTlv(der, value.start, value.end, Tag.OCTET_STRING, "subjectKeyIdentifier");
        subjectKeyId = der.subarray(id.start, id.end);
      }
    }
  }
  return { subject: elementBytes(der, subject), subjectPublicKey: bitStringBytes(der, keyBits), ...(subjectKeyId ? { subjectKeyId } : {}) };
}

/** PEM text of one DER certificate, 64 columns, trailing newline. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}
