/**
 * The sidecar's Prometheus metrics. The names and labels are public API
 * (docs/sidecar.md "Metrics"); keep them. Label values stay bounded:
 * listener names, fixed enums, and rule strings from the policy file (never a
 * raw peer ID). Known label combinations are set to 0 at start so dashboards
 * and alerts see a series before the first event.
 *
 * Hot paths never pass label objects: components ask once for the children
 * they need (`forListener`) and increment those.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { PolicyDecision, PolicyMode } from "./policy/policy.js";

/** Handshake outcomes, the `result` label of mesh_sidecar_tls_handshakes_total. */
export const HANDSHAKE_RESULTS = [
  "ok",
  "no_peer_certificate",
  "untrusted",
  "expired",
  "invalid_svid",
  "wrong_peer",
  "timeout",
  "protocol_error",
] as const;
export type HandshakeResult = (typeof HANDSHAKE_RESULTS)[number];

/** Which way a listener proxies. */
export type Direction = "inbound" | "outbound";

/** `result` of mesh_sidecar_svid_renewals_total: ok, CA/network failure, or an answer that failed validation. */
export type RenewalResult = "ok" | "error" | "invalid";
/** Why a connection was closed at accept, before any TLS. */
export type RejectReason = "max_connections" | "not_ready";

/** Seconds-scale buckets from 1 ms to 10 s: loopback handshakes sit at the low end, a stalled peer at the top. */
const HANDSHAKE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Inc {
  inc(value?: number): void;
}
interface Observe {
  observe(value: number): void;
}
interface UpDown {
  inc(value?: number): void;
  dec(value?: number): void;
}

/** Pre-bound metric children of one listener, for the per-connection path. */
export interface ListenerMetrics {
  readonly handshakes: Readonly<Record<HandshakeResult, Inc>>;
  readonly handshakeSeconds: Observe;
  /** Accepted handshakes that resumed a TLS session. */
  readonly resumed: Inc;
  readonly active: UpDown;
  readonly rejected: Readonly<Record<RejectReason, Inc>>;
  /** The authz counter child for a decision; cached per decision object. */
  authz(decision: PolicyDecision): Inc;
}

/** All sidecar metrics, registered on the registry passed in. */
export class SidecarMetrics {
  readonly handshakes: Counter<"listener" | "direction" | "result">;
  readonly handshakeDuration: Histogram<"listener" | "direction">;
  readonly authzDecisions: Counter<"listener" | "decision" | "rule">;
  readonly connectionsActive: Gauge<"listener" | "direction">;
  readonly connectionsRejected: Counter<"listener" | "direction" | "reason">;
  readonly sessionsResumed: Counter<"listener" | "direction">;
  readonly svidExpiry: Gauge;
  readonly svidRenewals: Counter<"result">;
  readonly bundleExpiry: Gauge;
  readonly bundleSequence: Gauge;
  readonly policyReloads: Counter<"result">;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.handshakes = new Counter({
      name: "mesh_sidecar_tls_handshakes_total",
      help: "TLS handshakes by listener, direction and result (ok, or the cause of refusal)",
      labelNames: ["listener", "direction", "result"],
      registers,
    });
    this.handshakeDuration = new Histogram({
      name: "mesh_sidecar_tls_handshake_duration_seconds",
      help: "Time from accepting (inbound) or opening (outbound) a connection to a completed, verified TLS handshake",
      labelNames: ["listener", "direction"],
      buckets: HANDSHAKE_BUCKETS,
      registers,
    });
    this.authzDecisions = new Counter({
      name: "mesh_sidecar_authz_decisions_total",
      help: "Policy decisions on inbound peers (allow, deny, or audit_deny: denied but let through by an audit-mode listener), by the policy entry that decided (or default)",
      labelNames: ["listener", "decision", "rule"],
      registers,
    });
    this.connectionsActive = new Gauge({
      name: "mesh_sidecar_connections_active",
      help: "Proxied connections currently open (after a successful handshake and authorization)",
      labelNames: ["listener", "direction"],
      registers,
    });
    this.connectionsRejected = new Counter({
      name: "mesh_sidecar_connections_rejected_total",
      help: "Connections closed at accept, before TLS: over limits.maxConnections, or no SVID yet",
      labelNames: ["listener", "direction", "reason"],
      registers,
    });
    this.sessionsResumed = new Counter({
      name: "mesh_sidecar_tls_sessions_resumed_total",
      help: "Accepted TLS handshakes (result ok) that resumed a session instead of exchanging certificates",
      labelNames: ["listener", "direction"],
      registers,
    });
    this.svidExpiry = new Gauge({
      name: "mesh_sidecar_svid_expiry_timestamp_seconds",
      help: "notAfter of the SVID currently served, as a Unix timestamp (0 before the first SVID)",
      registers,
    });
    this.svidRenewals = new Counter({
      name: "mesh_sidecar_svid_renewals_total",
      help: "SVID requests to mesh-ca (first issuance and renewals) by result: ok, error (CA or network), invalid (answer refused)",
      labelNames: ["result"],
      registers,
    });
    this.bundleExpiry = new Gauge({
      name: "mesh_sidecar_bundle_expiry_timestamp_seconds",
      help: "notAfter of the earliest-expiring root in the trust bundle, as a Unix timestamp",
      registers,
    });
    this.bundleSequence = new Gauge({
      name: "mesh_sidecar_bundle_sequence",
      help: "spiffe_sequence of the trust bundle last fetched from mesh-ca's /v1/bundle.json (0 before the first fetch)",
      registers,
    });
    this.policyReloads = new Counter({
      name: "mesh_sidecar_policy_reloads_total",
      help: "Policy file loads after the first, by result (error: the file was refused and the previous policy kept)",
      labelNames: ["result"],
      registers,
    });
    for (const result of ["ok", "error", "invalid"] as const) this.svidRenewals.inc({ result }, 0);
    for (const result of ["ok", "error"] as const) this.policyReloads.inc({ result }, 0);
  }

  /** Binds (and zero-initialises) the children one listener uses on every connection. */
  forListener(listener: string, direction: Direction): ListenerMetrics {
    const handshakes = {} as Record<HandshakeResult, Inc>;
    for (const result of HANDSHAKE_RESULTS) {
      handshakes[result] = this.handshakes.labels({ listener, direction, result });
      handshakes[result].inc(0);
    }
    const rejected = {} as Record<RejectReason, Inc>;
    for (const reason of ["max_connections", "not_ready"] as const) {
      rejected[reason] = this.connectionsRejected.labels({ listener, direction, reason });
      rejected[reason].inc(0);
    }
    const resumed = this.sessionsResumed.labels({ listener, direction });
    resumed.inc(0);
    const active = this.connectionsActive.labels({ listener, direction });
    active.set(0);
    const authzChildren = new WeakMap<PolicyDecision, Inc>();
    const authzCounter = this.authzDecisions;
    return {
      handshakes,
      handshakeSeconds: this.handshakeDuration.labels({ listener, direction }),
      resumed,
      active,
      rejected,
      authz(decision: PolicyDecision): Inc {
        let child = authzChildren.get(decision);
        if (!child) {
          child = authzCounter.labels({ listener, decision: decision.decision, rule: decision.rule });
          authzChildren.set(decision, child);
        }
        return child;
      },
    };
  }

  /**
   * Zero-initialises the authz series of one listener's policy entries and
   * its default deny; an audit listener's denials are `audit_deny`.
   */
  initAuthz(listener: string, rules: { readonly mode?: PolicyMode; readonly allow: readonly string[]; readonly deny: readonly string[] }): void {
    const denied = rules.mode === "audit" ? "audit_deny" : "deny";
    this.authzDecisions.inc({ listener, decision: denied, rule: "default" }, 0);
    for (const rule of rules.allow) this.authzDecisions.inc({ listener, decision: "allow", rule }, 0);
    for (const rule of rules.deny) this.authzDecisions.inc({ listener, decision: denied, rule }, 0);
  }
}
