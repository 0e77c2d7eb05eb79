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
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import type { TrustBundle } from "./bundle.js";
import { type CertificateInput, toNodeCertificate } from "./certificates.js";
import { SvidError, SvidErrorCode } from "./errors.js";

/** Most certificates in a path, leaf and root included. */
export const MAX_CHAIN_LENGTH = 5;

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
