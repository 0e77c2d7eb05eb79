/**
 * What /readyz answers: ready only while the sidecar holds an SVID that has
 * not expired and is not draining, with the reason when not, so a probe's
 * failure says what to look at.
 */
import type { Readiness } from "../lib/admin/server.js";
import type { Clock } from "../lib/clock.js";
import type { CredentialStore } from "./credentials/credential-store.js";

/** The sidecar's readiness; `draining` is set once, when the drain starts. */
export class ReadinessCheck {
  /** Set when the drain (or close) starts; never cleared. */
  draining = false;

  constructor(
    private readonly store: CredentialStore,
    private readonly clock: Clock,
  ) {}

  /** The answer now. */
  check(): Readiness {
    if (this.draining) return { ready: false, reason: "draining (shutting down)" };
    const active = this.store.current;
    if (!active) return { ready: false, reason: "no SVID yet: mesh-ca has not issued one (see the log for why)" };
    if (active.svid.notAfter.getTime() <= this.clock.now()) {
      return { ready: false, reason: `SVID expired at ${active.svid.notAfter.toISOString()} and could not be renewed (see the log)` };
    }
    return { ready: true };
  }
}
