/**
 * Judging a peer's certificate after OpenSSL's chain check: the X.509-SVID
 * leaf rules and the trust domain (OpenSSL alone accepts cA=true and
 * keyCertSign leaves). Verdicts are cached by the leaf's SHA-256 fingerprint
 * until the leaf's notAfter, so a peer that connects again costs a map
 * lookup, not a DER walk (10–15 µs). OpenSSL still verifies the chain and the
 * signature of every handshake; only the leaf's own rules are cached.
 */
import { readCertificateView } from "../../lib/spiffe/certificate-view.js";
import { SvidError, SvidErrorCode } from "../../lib/spiffe/errors.js";
import type { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { checkLeafSvid, type SvidUsage } from "../../lib/spiffe/svid.js";
import type { HandshakeResult } from "../metrics.js";

/** A peer leaf that passed every rule. */
export interface AcceptedPeer {
  readonly ok: true;
  readonly id: SpiffeId;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** A peer leaf that broke a rule: the handshake result to count and the reason to log. */
export interface RefusedPeer {
  readonly ok: false;
  readonly result: HandshakeResult;
  readonly reason: string;
  /** The URI SANs as presented, for the log line only (never a metric label). */
  readonly claimed: string | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
}

export type PeerVerdict = AcceptedPeer | RefusedPeer;

/**
 * The two things the verifier needs of a peer leaf. Both node:crypto's
 * X509Certificate and tls.PeerCertificate have them; the listeners pass the
 * latter because TLSSocket#getPeerCertificate() is measurably cheaper per
 * handshake than getPeerX509Certificate(), which re-encodes the certificate.
 */
export interface PeerLeaf {
  readonly raw: Buffer;
  readonly fingerprint256: string;
}

/** Options of PeerVerifier. */
export interface PeerVerifierOptions {
  trustDomain: TrustDomain;
  /** The role the peer plays: "client" for inbound peers, "server" for upstreams. */
  usage: SvidUsage;
  now?: () => number;
  /** Most verdicts kept; the oldest is dropped first. */
  maxEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/** Verifies peer leaves against the SVID rules with a bounded verdict cache. */
export class PeerVerifier {
  private readonly cache = new Map<string, PeerVerdict>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly opts: PeerVerifierOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Number of cached verdicts (for tests and debugging). */
  get size(): number {
    return this.cache.size;
  }

  /** The verdict for a peer leaf whose chain OpenSSL already verified. */
  verify(cert: PeerLeaf): PeerVerdict {
    const now = this.now();
    const key = cert.fingerprint256;
    const cached = this.cache.get(key);
    if (cached) {
      if (now >= cached.notBefore && now <= cached.notAfter) return cached;
      this.cache.delete(key);
    }
    const verdict = this.judge(cert, now);
    // Time-based refusals change with the clock; everything else is a property of the certificate.
    if (verdict.ok || verdict.result !== "expired") {
      if (this.cache.size >= this.maxEntries) this.evictOldest();
      this.cache.set(key, verdict);
    }
    return verdict;
  }

  private judge(cert: PeerLeaf, now: number): PeerVerdict {
    let notBefore = 0;
    let notAfter = 0;
    let claimed: string | undefined;
    try {
      // The DER straight from OpenSSL: lib/spiffe reads it without building a library certificate.
      const view = readCertificateView(cert.raw);
      notBefore = view.notBefore;
      notAfter = view.notAfter;
      claimed = shorten(view.san?.uris ?? []);
      const id = checkLeafSvid(cert.raw, {
        now: new Date(now),
        trustDomain: this.opts.trustDomain,
        usage: this.opts.usage,
      });
      return { ok: true, id, notBefore, notAfter };
    } catch (err) {
      if (!(err instanceof SvidError)) throw err;
      // A malformed leaf keeps notAfter 0, so its verdict is never served from the cache.
      return { ok: false, result: resultOfSvidError(err), reason: `${err.code}: ${err.message}`, claimed, notBefore, notAfter };
    }
  }

  private evictOldest(): void {
    const oldest = this.cache.keys().next();
    if (!oldest.done) this.cache.delete(oldest.value);
  }
}

/** Maps an SvidError to the handshake result it is counted as. */
export function resultOfSvidError(err: SvidError): HandshakeResult {
  switch (err.code) {
    case SvidErrorCode.EXPIRED:
    case SvidErrorCode.NOT_YET_VALID:
      return "expired";
    case SvidErrorCode.UNTRUSTED:
      return "untrusted";
    case SvidErrorCode.WRONG_ID:
      return "wrong_peer";
    default:
      return "invalid_svid";
  }
}

const TIME_ERRORS = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
]);

/**
 * Maps OpenSSL's verify error (TLSSocket#authorizationError, e.g.
 * "CERT_HAS_EXPIRED") to a handshake result. "expired" covers both ends of
 * the validity window (expired and not yet valid).
 */
export function resultOfAuthorizationError(code: string | Error | undefined): HandshakeResult {
  const name = typeof code === "string" ? code : ((code as { code?: string } | undefined)?.code ?? "");
  if (TIME_ERRORS.has(name)) return "expired";
  if (name === "INVALID_PURPOSE") return "invalid_svid";
  return "untrusted";
}

/** URI SANs as one string, shortened, for log lines (never a metric label). */
function shorten(uris: readonly string[]): string | undefined {
  if (uris.length === 0) return undefined;
  const text = uris.join(", ");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
