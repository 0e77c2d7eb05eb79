/**
 * Certificate path building and signature checks in JavaScript (node:crypto),
 * for the places where no TLS handshake does it for us: the sidecar checks a
 * freshly issued SVID against the bundle before swapping it in, the CA checks
 * a renewal client certificate. Trust anchors are the bundle's roots; every
 * link is name/AKI-matched (checkIssued), signature-verified, time-checked,
 * and every issuer below the anchor must be a CA. Not checked (our own CA
 * issues neither): name constraints, policies, pathLenConstraint — the depth
 * bound stands in for the last.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import type { x509 } from "../x509.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import type { TrustBundle } from "./bundle.js";

/** A certificate in any of the forms the project handles. */
export type CertificateInput = NodeX509Certificate | Uint8Array | x509.X509Certificate;

/** Most certificates in a path, leaf and root included. */
export const MAX_CHAIN_LENGTH = 5;

/** One PEM block: its label (e.g. "CERTIFICATE") and DER bytes. */
export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Splits PEM text into blocks; throws Error if a block is unterminated or not base64. */
export function pemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const label = m[1] as string;
    const body = (m[2] as string).replace(/\s+/g, "");
    if (!BASE64.test(body)) throw new Error(`PEM block ${label} #${blocks.length + 1} is not valid base64`);
    blocks.push({ label, der: Buffer.from(body, "base64") });
  }
  const begins = pem.split("-----BEGIN ").length - 1;
  if (begins !== blocks.length) throw new Error("PEM text has a BEGIN line without a matching END line");
  return blocks;
}

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

/**
 * Finds a path leaf → intermediates → bundle root valid at `now` and returns
 * it (leaf first, root last); throws SvidError SVID_UNTRUSTED, or
 * SVID_EXPIRED / SVID_NOT_YET_VALID when only a time check stood in the way.
 */
export function verifyChain(
  leaf: CertificateInput,
  intermediates: readonly CertificateInput[],
  bundle: TrustBundle,
  now: Date,
): NodeX509Certificate[] {
  const leafCert = toNodeCertificate(leaf);
  const timeError = validityError(leafCert, now, "certificate");
  if (timeError) throw timeError;
  const search = { pool: intermediates.map(toNodeCertificate), bundle, now, timeError: undefined as SvidError | undefined };
  const path = extend(search, [leafCert]);
  if (path) return path;
  throw (
    search.timeError ??
    new SvidError(
      SvidErrorCode.UNTRUSTED,
      `certificate does not chain to a root of trust domain ${bundle.trustDomain.name} within ${MAX_CHAIN_LENGTH} certificates`,
    )
  );
}

interface Search {
  pool: NodeX509Certificate[];
  bundle: TrustBundle;
  now: Date;
  /** The first time failure met on an otherwise good link, reported if no path is found. */
  timeError: SvidError | undefined;
}

function extend(s: Search, path: NodeX509Certificate[]): NodeX509Certificate[] | undefined {
  const child = path[path.length - 1] as NodeX509Certificate;
  for (const root of s.bundle.roots) {
    if (!issuedBy(child, root)) continue;
    const err = validityError(root, s.now, "root certificate");
    if (!err) return [...path, root];
    s.timeError ??= err;
  }
  if (path.length + 1 >= MAX_CHAIN_LENGTH) return undefined;
  for (const candidate of s.pool) {
    if (!candidate.ca || path.includes(candidate) || !issuedBy(child, candidate)) continue;
    const err = validityError(candidate, s.now, "intermediate certificate");
    if (err) {
      s.timeError ??= err;
      continue;
    }
    const found = extend(s, [...path, candidate]);
    if (found) return found;
  }
  return undefined;
}

function issuedBy(child: NodeX509Certificate, issuer: NodeX509Certificate): boolean {
  // checkIssued matches names, AKI/SKI and the issuer's keyCertSign; the
  // signature check is the expensive part, so it runs only on a match.
  return child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

function validityError(cert: NodeX509Certificate, now: Date, what: string): SvidError | undefined {
  const t = now.getTime();
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (t < from.getTime()) return new SvidError(SvidErrorCode.NOT_YET_VALID, `${what} is not valid before ${from.toISOString()}`);
  if (t > to.getTime()) return new SvidError(SvidErrorCode.EXPIRED, `${what} expired at ${to.toISOString()}`);
  return undefined;
}
