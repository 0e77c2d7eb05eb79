/**
 * The TLS session an outbound listener offers its upstream on the next
 * connection, so repeat connections between sidecars resume instead of
 * exchanging and verifying certificates again (most of a handshake's CPU).
 *
 * A session is kept only from a connection whose upstream passed every
 * check, only while the credentials it was made with are still ours (a
 * rotation or bundle change builds a new client context and the session is
 * dropped with the old one), and never past the upstream certificate's
 * notAfter or the ticket lifetime. With it goes the verdict on that
 * upstream: Node cannot show a client the peer certificate of a resumed
 * session, so the verdict is what a resumed connection is judged by again
 * (validity window, expectedPeer). A refused upstream clears the cache.
 */
import type { ActiveCredentials } from "../credentials/credential-store.js";
import type { AcceptedPeer } from "./peer-verifier.js";

/** A session to offer, and the verdict on the upstream it was made with. */
export interface OfferedSession {
  readonly session: Buffer;
  readonly peer: AcceptedPeer;
}

interface Kept extends OfferedSession {
  readonly credentials: ActiveCredentials;
  readonly expiresAt: number;
}

/** One outbound listener's resumable session (the latest is enough: one upstream, one identity). */
export class SessionCache {
  private kept: Kept | undefined;

  constructor(private readonly lifetimeMs: number) {}

  /** The session to offer with `credentials` at `now`, if one is still good. */
  offer(credentials: ActiveCredentials, now: number): OfferedSession | undefined {
    const kept = this.kept;
    if (!kept) return undefined;
    if (kept.credentials !== credentials || now >= kept.expiresAt) {
      this.kept = undefined;
      return undefined;
    }
    return kept;
  }

  /** Keeps a session from an upstream accepted as `peer`. */
  keep(session: Buffer, credentials: ActiveCredentials, peer: AcceptedPeer, now: number): void {
    this.kept = { session, peer, credentials, expiresAt: Math.min(now + this.lifetimeMs, peer.notAfter) };
  }

  /** Drops the session (its upstream was refused, or the resumption failed). */
  forget(): void {
    this.kept = undefined;
  }

  /** Whether a session is kept (for tests). */
  get holding(): boolean {
    return this.kept !== undefined;
  }
}
