/**
 * PKCS#10 certificate signing requests (RFC 2986), read on the issuance hot
 * path with a DER walk instead of a schema library. From a CSR the CA takes
 * only the public key (after proof of possession: the signature verifies
 * with it) and the URI SANs it asks for, to refuse a request for a foreign
 * ID; subject, other extensions and attributes are ignored because the CA
 * sets them itself.
 */
import { verify, type JsonWebKey } from "node:crypto";
import { DerError, malformed } from "../../lib/der/errors.js";
import { oidReader } from "../../lib/der/oid.js";
import { children, DerCursor, type DerElement, elementBytes, readElement } from "../../lib/der/reader.js";
import { DerTag } from "../../lib/der/tags.js";
import { readBitStringOctets } from "../../lib/der/values.js";
import { CsrError, CsrErrorCode } from "./errors.js";
import { SignatureOid } from "./keys.js";

/** What the CA uses from a verified CSR. */
export interface VerifiedCsr {
  /** SubjectPublicKeyInfo DER as sent (only the canonical encoding is accepted), copied into the certificate. */
  readonly spki: Buffer;
  /** The subjectPublicKey bits (for the SHA-1 subject key identifier, RFC 5280 §4.2.1.2 method 1). */
  readonly subjectPublicKey: Uint8Array;
  /** URI SANs of the extensionRequest attribute, in order; usually none. */
  readonly uris: readonly string[];
  /** e.g. "EC P-256", "RSA 2048" for logs. */
  readonly keyDescription: string;
}

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SAN = "2.5.29.17";
const TAG_ATTRIBUTES = 0xa0;
const TAG_URI = 0x86;
const MAX_RSA_BITS = 8192;
const MIN_RSA_BITS = 2048;

const SIGNATURE_HASH: Record<string, { hash: string; keyType: "ec" | "rsa" }> = {
  [SignatureOid.ecdsaSha256]: { hash: "sha256", keyType: "ec" },
  [SignatureOid.ecdsaSha384]: { hash: "sha384", keyType: "ec" },
  [SignatureOid.ecdsaSha512]: { hash: "sha512", keyType: "ec" },
  [SignatureOid.rsaSha256]: { hash: "sha256", keyType: "rsa" },
  [SignatureOid.rsaSha384]: { hash: "sha384", keyType: "rsa" },
  [SignatureOid.rsaSha512]: { hash: "sha512", keyType: "rsa" },
};

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const EC_CURVES: Record<string, { name: string; size: number }> = {
  "1.2.840.10045.3.1.7": { name: "P-256", size: 32 },
  "1.3.132.0.34": { name: "P-384", size: 48 },
};
/** Reads OIDs (strictly, as lib/der does) with a byte-compare fast path for every OID this file looks for. */
const oidOf = oidReader([
  ...Object.keys(SIGNATURE_HASH),
  OID_EC_PUBLIC_KEY,
  OID_RSA_ENCRYPTION,
  ...Object.keys(EC_CURVES),
  OID_EXTENSION_REQUEST,
  OID_SAN,
]);

const PEM_CSR_HEADER = /^\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n/;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]+$/;

/**
 * Extracts the DER of a single PEM CERTIFICATE REQUEST block. The body is
 * decoded as it is: node's base64 decoder skips the line breaks, so the
 * text is not rewritten first.
 */
export function csrDerFromPem(pem: string): Buffer {
  const header = PEM_CSR_HEADER.exec(pem);
  const footer = `-----END ${header?.[1] ?? ""}CERTIFICATE REQUEST-----`;
  const bodyStart = header ? header[0].length : 0;
  const bodyEnd = header ? pem.indexOf(footer, bodyStart) : -1;
  const body = pem.slice(bodyStart, bodyEnd);
  if (bodyEnd <= bodyStart || !BASE64_BODY.test(body) || pem.slice(bodyEnd + footer.length).trim() !== "") {
    throw new CsrError(CsrErrorCode.NOT_PEM, 'csr must be one PEM block "-----BEGIN CERTIFICATE REQUEST-----" (as written by openssl req)');
  }
  return Buffer.from(body, "base64");
}

/**
 * Parses a DER CSR, checks its key and verifies its signature; throws
 * CsrError. The DER reader's DER_MALFORMED becomes CSR_MALFORMED here, the
 * edge of the CSR code: the API answers every CsrError as INVALID_CSR.
 */
export function verifyCsr(der: Uint8Array): VerifiedCsr {
  try {
    return parseAndVerify(der);
  } catch (err) {
    if (err instanceof DerError) throw new CsrError(CsrErrorCode.MALFORMED, `csr is not a valid DER PKCS#10 request: ${err.message}`, { cause: err });
    throw err;
  }
}

function parseAndVerify(der: Uint8Array): VerifiedCsr {
  const outer = new DerCursor(der).expect(DerTag.SEQUENCE, "CertificationRequest");
  if (outer.end !== der.length) malformed("trailing bytes after the request");
  const [info, sigAlg, signature, ...extra] = children(der, outer);
  if (!info || !sigAlg || !signature || extra.length > 0) malformed("CertificationRequest must have three fields");
  if (info.tag !== DerTag.SEQUENCE || sigAlg.tag !== DerTag.SEQUENCE) malformed("malformed CertificationRequest");

  const [version, subject, spkiField, attributes, ...more] = children(der, info);
  if (!version || version.tag !== DerTag.INTEGER || version.end - version.start !== 1 || der[version.start] !== 0) {
    malformed("CertificationRequestInfo version must be 0 (v1)");
  }
  if (!subject || subject.tag !== DerTag.SEQUENCE) malformed("subject must be a Name");
  if (!spkiField || spkiField.tag !== DerTag.SEQUENCE) malformed("subjectPKInfo must be a SEQUENCE");
  if (more.length > 0 || (attributes && attributes.tag !== TAG_ATTRIBUTES)) malformed("unexpected field after subjectPKInfo");

  const algorithm = signatureAlgorithm(der, sigAlg);
  const key = readPublicKey(der, spkiField);
  if (key.keyType !== algorithm.keyType) {
    throw new CsrError(CsrErrorCode.UNSUPPORTED_ALGORITHM, `csr signature algorithm does not match its ${key.description} key`);
  }
  if (!verifyWithJwk(algorithm.hash, elementBytes(der, info), key.jwk, readBitStringOctets(der, signature, "signature"))) {
    throw new CsrError(
      CsrErrorCode.SIGNATURE,
      "csr signature does not verify with its public key (proof of possession failed): sign the CSR with the key it carries",
    );
  }
  return {
    spki: Buffer.from(elementBytes(der, spkiField)),
    subjectPublicKey: key.subjectPublicKey,
    uris: attributes ? requestedUris(der, attributes) : [],
    keyDescription: key.description,
  };
}

function signatureAlgorithm(der: Uint8Array, sigAlg: DerElement): { hash: string; keyType: "ec" | "rsa" } {
  const [oidField] = children(der, sigAlg);
  if (!oidField) malformed("signatureAlgorithm has no OID");
  const oid = oidOf(der, oidField, "signatureAlgorithm");
  const found = SIGNATURE_HASH[oid];
  if (!found) {
    throw new CsrError(
      CsrErrorCode.UNSUPPORTED_ALGORITHM,
      `csr signature algorithm ${oid} is not supported; sign with ECDSA or RSA PKCS#1 v1.5 and SHA-256/384/512`,
    );
  }
  return found;
}

interface SpkiKey {
  keyType: "ec" | "rsa";
  description: string;
  jwk: JsonWebKey;
  subjectPublicKey: Uint8Array;
}

/**
 * Reads a SubjectPublicKeyInfo in its one canonical form per key type (what
 * OpenSSL writes), so the CA can copy the bytes into the certificate as
 * they are, and checks type and size (no RSA below 2048 bits). The key is
 * then handed to node as a JWK: on Node 20 / OpenSSL 3.0 node's DER key
 * decoder costs about two ECDSA P-256 verifications, the JWK import about one.
 */
function readPublicKey(der: Uint8Array, spki: DerElement): SpkiKey {
  const [algorithm, keyBits, ...extra] = children(der, spki);
  if (!algorithm || algorithm.tag !== DerTag.SEQUENCE || !keyBits || extra.length > 0) malformed("malformed SubjectPublicKeyInfo");
  const [oidField, params, ...more] = children(der, algorithm);
  if (!oidField || more.length > 0) malformed("malformed public key AlgorithmIdentifier");
  const oid = oidOf(der, oidField, "public key algorithm");
  const bits = readBitStringOctets(der, keyBits, "subjectPublicKey");
  if (oid === OID_EC_PUBLIC_KEY) {
    const curveOid = params?.tag === DerTag.OID ? oidOf(der, params, "EC curve") : "(explicit parameters)";
    const curve = EC_CURVES[curveOid];
    if (!curve) throw new CsrError(CsrErrorCode.UNSUPPORTED_KEY, `csr key uses EC curve ${curveOid}; use P-256 or P-384`);
    if (bits.length !== 1 + 2 * curve.size || bits[0] !== 0x04) {
      throw new CsrError(CsrErrorCode.UNSUPPORTED_KEY, `csr EC key must be an uncompressed ${curve.name} point`);
    }
    const x = Buffer.from(bits.subarray(1, 1 + curve.size)).toString("base64url");
    const y = Buffer.from(bits.subarray(1 + curve.size)).toString("base64url");
    return { keyType: "ec", description: `EC ${curve.name}`, jwk: { kty: "EC", crv: curve.name, x, y }, subjectPublicKey: bits };
  }
  if (oid === OID_RSA_ENCRYPTION) {
    if (params?.tag !== DerTag.NULL || params.end !== params.start) malformed("rsaEncryption parameters must be NULL");
    const rsaKey = readElement(bits, 0);
    if (rsaKey.tag !== DerTag.SEQUENCE || rsaKey.end !== bits.length) malformed("malformed RSAPublicKey");
    const [n, e, ...rest] = children(bits, rsaKey);
    if (!n || !e || rest.length > 0) malformed("malformed RSAPublicKey");
    const modulus = positiveInteger(bits, n, "modulus");
    const exponent = positiveInteger(bits, e, "exponent");
    const size = bitLength(modulus);
    if (size < MIN_RSA_BITS) throw new CsrError(CsrErrorCode.UNSUPPORTED_KEY, `csr key is RSA ${size}; RSA keys must have at least ${MIN_RSA_BITS} bits`);
    if (size > MAX_RSA_BITS) throw new CsrError(CsrErrorCode.UNSUPPORTED_KEY, `csr key is RSA ${size}; RSA keys may have at most ${MAX_RSA_BITS} bits`);
    const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64url");
    return { keyType: "rsa", description: `RSA ${size}`, jwk: { kty: "RSA", n: b64(modulus), e: b64(exponent) }, subjectPublicKey: bits };
  }
  throw new CsrError(CsrErrorCode.UNSUPPORTED_KEY, `csr key type ${oid} is not supported; use EC P-256 (recommended), P-384 or RSA >= 2048`);
}

/**
 * Verifies with the key given as a JWK: node imports it for this one call,
 * without the JavaScript KeyObject that createPublicKey would build first
 * (measured: the DER forms, `{ format: "der", type: "spki" }` to verify or to
 * createPublicKey, cost about a quarter more per CSR on Node 20 / OpenSSL 3.0).
 */
function verifyWithJwk(hash: string, data: Uint8Array, jwk: JsonWebKey, signature: Uint8Array): boolean {
  let valid: boolean;
  try {
    valid = verify(hash, data, { key: jwk, format: "jwk" }, signature);
  } catch {
    // e.g. an EC point that is not on the curve
    throw new CsrError(CsrErrorCode.INVALID_KEY, "csr public key is not a valid key");
  }
  return valid;
}

/** Magnitude of a DER INTEGER that must be positive and minimally encoded. */
function positiveInteger(der: Uint8Array, el: DerElement, what: string): Uint8Array {
  if (el.tag !== DerTag.INTEGER || el.end === el.start) malformed(`RSA ${what} must be an INTEGER`);
  const first = der[el.start] as number;
  if (first & 0x80) throw new CsrError(CsrErrorCode.INVALID_KEY, `csr RSA ${what} is negative`);
  if (first === 0 && el.end - el.start > 1 && ((der[el.start + 1] as number) & 0x80) === 0) {
    malformed(`RSA ${what} is not minimally encoded`);
  }
  const magnitude = first === 0 ? der.subarray(el.start + 1, el.end) : der.subarray(el.start, el.end);
  if (magnitude.length === 0) throw new CsrError(CsrErrorCode.INVALID_KEY, `csr RSA ${what} is zero`);
  return magnitude;
}

function bitLength(magnitude: Uint8Array): number {
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0] as number));
}

/** URI SANs in the extensionRequest attribute (RFC 2985 §5.4.2). */
function requestedUris(der: Uint8Array, attributes: DerElement): string[] {
  const uris: string[] = [];
  for (const attribute of children(der, attributes)) {
    const [typeField, values] = attribute.tag === DerTag.SEQUENCE ? children(der, attribute) : [];
    if (!typeField || !values || values.tag !== DerTag.SET) malformed("malformed attribute");
    if (oidOf(der, typeField, "attribute type") !== OID_EXTENSION_REQUEST) continue;
    for (const extensions of children(der, values)) {
      if (extensions.tag !== DerTag.SEQUENCE) malformed("extensionRequest must hold Extensions");
      for (const extension of children(der, extensions)) {
        const parts = extension.tag === DerTag.SEQUENCE ? children(der, extension) : [];
        const oidField = parts[0];
        const value = parts[parts.length - 1];
        if (!oidField || !value || value.tag !== DerTag.OCTET_STRING) malformed("malformed extension");
        if (oidOf(der, oidField, "extnID") !== OID_SAN) continue;
        // The first element of the value is read, as before: trailing bytes inside it are not refused.
        const names = DerCursor.inside(der, value).expect(DerTag.SEQUENCE, "subjectAltName");
        for (const name of children(der, names)) {
          if (name.tag === TAG_URI) uris.push(Buffer.from(der.subarray(name.start, name.end)).toString("latin1"));
        }
      }
    }
  }
  return uris;
}
