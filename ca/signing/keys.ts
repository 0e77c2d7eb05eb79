/**
 * Key types the CA signs with and the X.509 signature algorithm each one
 * uses. The AlgorithmIdentifier bytes are prepared once: they appear twice in
 * every certificate the CA issues.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { malformed } from "../../lib/der/errors.js";
import { children, readElement } from "../../lib/der/reader.js";
import { DerTag } from "../../lib/der/tags.js";
import { readBitStringOctets } from "../../lib/der/values.js";
import { encodeOid, sequence, tlv } from "./der-writer.js";
import { UnsupportedKeyError } from "./errors.js";

const generateKeyPairAsync = promisify(generateKeyPair);

/** `--key-type` values of `mesh-ca init`. */
export const CA_KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];

/** OIDs of the signature algorithms the CA writes and accepts in CSRs. */
export const SignatureOid = {
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  ecdsaSha512: "1.2.840.10045.4.3.4",
  rsaSha256: "1.2.840.113549.1.1.11",
  rsaSha384: "1.2.840.113549.1.1.12",
  rsaSha512: "1.2.840.113549.1.1.13",
} as const;

/** How a key signs certificates: digest for node:crypto and the DER AlgorithmIdentifier. */
export interface SignatureScheme {
  readonly hash: "sha256" | "sha384";
  readonly algorithmIdentifier: Buffer;
  /** WebCrypto parameters for @peculiar/x509 (init, tests). */
  readonly webCrypto: { name: string; hash: string };
}

function scheme(oid: string, hash: "sha256" | "sha384", withNullParams: boolean, webName: string): SignatureScheme {
  // RFC 4055 §5: RSA PKCS#1 v1.5 identifiers carry NULL parameters; RFC 5758 §3.2: ECDSA ones carry none.
  const algorithmIdentifier = withNullParams ? sequence(encodeOid(oid), tlv(DerTag.NULL)) : sequence(encodeOid(oid));
  return { hash, algorithmIdentifier, webCrypto: { name: webName, hash: hash === "sha256" ? "SHA-256" : "SHA-384" } };
}

const ECDSA_SHA256 = scheme(SignatureOid.ecdsaSha256, "sha256", false, "ECDSA");
const ECDSA_SHA384 = scheme(SignatureOid.ecdsaSha384, "sha384", false, "ECDSA");
const RSA_SHA256 = scheme(SignatureOid.rsaSha256, "sha256", true, "RSASSA-PKCS1-v1_5");

/** The signature scheme for a CA private or public key; P-384 signs with SHA-384, the rest with SHA-256. Throws UnsupportedKeyError. */
export function signatureSchemeFor(key: KeyObject): SignatureScheme {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") {
    if (details.namedCurve === "prime256v1") return ECDSA_SHA256;
    if (details.namedCurve === "secp384r1") return ECDSA_SHA384;
    throw new UnsupportedKeyError(`EC curve ${details.namedCurve ?? "unknown"} is not supported; use P-256 or P-384`);
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) throw new UnsupportedKeyError(`RSA key of ${bits} bits is too small; use at least 2048`);
    return RSA_SHA256;
  }
  throw new UnsupportedKeyError(`key type ${key.asymmetricKeyType ?? "unknown"} is not supported; use EC P-256/P-384 or RSA`);
}

/** Generates a CA key pair of the given type. */
export async function generateCaKey(type: CaKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (type) {
    case "ec-p256":
      return generateKeyPairAsync("ec", { namedCurve: "prime256v1" });
    case "ec-p384":
      return generateKeyPairAsync("ec", { namedCurve: "secp384r1" });
    case "rsa-2048":
      return generateKeyPairAsync("rsa", { modulusLength: 2048 });
    case "rsa-3072":
      return generateKeyPairAsync("rsa", { modulusLength: 3072 });
  }
}

/** A workload key pair for offline issuance (`mesh-ca issue`) and the API's serving certificate: ECDSA P-256. */
export async function generateWorkloadKey(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return generateKeyPairAsync("ec", { namedCurve: "prime256v1" });
}

/** Parses a PKCS#8 (or SEC1/PKCS#1) PEM private key; throws Error with node's reason. */
export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey({ key: pem, format: "pem" });
}

/** The SubjectPublicKeyInfo DER of a key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return pub.export({ type: "spki", format: "der" });
}

/** The BIT STRING contents (the key bits) of SubjectPublicKeyInfo DER: what the key identifier hashes. */
export function subjectPublicKeyOf(spki: Uint8Array): Uint8Array {
  const [, keyBits] = children(spki, readElement(spki, 0));
  if (!keyBits) malformed("SubjectPublicKeyInfo has no key");
  return readBitStringOctets(spki, keyBits, "subjectPublicKey");
}
