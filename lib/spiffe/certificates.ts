/**
 * The forms a certificate comes in (node:crypto's X509Certificate, DER
 * bytes, @peculiar/x509's class, a PEM chain) and the one conversion the
 * checks work on, node:crypto's. Apart from chain.ts so that bundle.ts can
 * read roots without importing the path builder that imports it.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { type PemBlock, pemBlocks } from "../pem.js";
import type { x509 } from "../x509.js";
import { SvidError, SvidErrorCode } from "./errors.js";

/** A certificate in any of the forms the project handles. */
export type CertificateInput = NodeX509Certificate | Uint8Array | x509.X509Certificate;

/** Parses a PEM chain (leaf first, as the CA returns it) into certificates; throws SvidError SVID_MALFORMED. */
export function certificatesFromPem(pem: string): NodeX509Certificate[] {
  let blocks: PemBlock[];
  try {
    blocks = pemBlocks(pem);
  } catch (err) {
    throw new SvidError(SvidErrorCode.MALFORMED, (err as Error).message);
  }
  if (blocks.length === 0) throw new SvidError(SvidErrorCode.MALFORMED, "no PEM CERTIFICATE block found");
  return blocks.map((b, i) => {
    if (b.label !== "CERTIFICATE") {
      throw new SvidError(SvidErrorCode.MALFORMED, `PEM block #${i + 1} is ${b.label}; only CERTIFICATE blocks are allowed`);
    }
    return toNodeCertificate(b.der);
  });
}

/** Converts any certificate form to a node:crypto X509Certificate; throws SvidError SVID_MALFORMED. */
export function toNodeCertificate(cert: CertificateInput): NodeX509Certificate {
  if (cert instanceof NodeX509Certificate) return cert;
  const der = cert instanceof Uint8Array ? cert : new Uint8Array(cert.rawData);
  try {
    return new NodeX509Certificate(der);
  } catch (err) {
    throw new SvidError(SvidErrorCode.MALFORMED, `certificate cannot be parsed: ${(err as Error).message}`);
  }
}
