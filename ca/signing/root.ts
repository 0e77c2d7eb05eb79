/**
 * A self-signed root for a trust domain (`mesh-ca init`), made once with
 * @peculiar/x509 (not a hot path): cA=true, keyCertSign and cRLSign, the
 * trust domain's ID `spiffe://<td>` as URI SAN (X509-SVID §4.1: a signing
 * certificate may carry the trust domain ID, without a path).
 */
import { createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { newSerialNumberHex } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";
import { signatureSchemeFor } from "./keys.js";

/** Options of createRootCertificate. */
export interface RootOptions {
  trustDomain: TrustDomain;
  privateKey: KeyObject;
  notBefore: Date;
  validityMs: number;
  /** Common name of the subject; default "mesh-ca root". A rotation names the new root apart from the old one. */
  commonName?: string;
}

/** WebCrypto import parameters for a node KeyObject. */
function webCryptoParams(key: KeyObject): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  if (key.asymmetricKeyType === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  return { name: "ECDSA", namedCurve: key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "P-384" : "P-256" };
}

/** Creates the self-signed root certificate for `privateKey`. */
export async function createRootCertificate(opts: RootOptions): Promise<x509.X509Certificate> {
  const params = webCryptoParams(opts.privateKey);
  const subtle = webcrypto.subtle;
  const signingKey = await subtle.importKey("pkcs8", opts.privateKey.export({ type: "pkcs8", format: "der" }), params, false, ["sign"]);
  const publicKey = await subtle.importKey("spki", createPublicKey(opts.privateKey).export({ type: "spki", format: "der" }), params, true, [
    "verify",
  ]);
  const subject = `CN=${opts.commonName ?? "mesh-ca root"},O=${opts.trustDomain.name}`;
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumberHex(),
    subject,
    issuer: subject,
    notBefore: opts.notBefore,
    notAfter: new Date(opts.notBefore.getTime() + opts.validityMs),
    publicKey,
    signingKey,
    signingAlgorithm: signatureSchemeFor(opts.privateKey).webCrypto,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: opts.trustDomain.id.toString() }]),
    ],
  });
}
