/**
 * What `GET /status` on the admin port answers (docs/sidecar.md "Status"):
 * the sidecar's state in one JSON document, built from the parts that hold
 * it at the moment of the request. It names certificates by serial and
 * fingerprint and the policy by its hash: it never holds a key, a token or
 * a certificate's PEM, so it is safe to paste into a ticket.
 */
import type { X509Certificate } from "node:crypto";
import { formatHostPort } from "../lib/net/address.js";
import type { TrustBundle } from "../lib/spiffe/bundle.js";
import { versionInfo, type VersionInfo } from "../lib/version.js";
import type { SidecarConfig } from "./config.js";
import type { CredentialStore } from "./credentials/credential-store.js";
import type { Renewer } from "./credentials/renewer.js";
import type { ListenerBase } from "./listeners/listener-base.js";
import type { PolicyWatcher } from "./policy/policy-watcher.js";
import type { ReadinessCheck } from "./readiness.js";

/** One root of the trust bundle in force. */
export interface RootStatus {
  /** The subject as OpenSSL's one-line form: `CN=..., O=...`. */
  readonly subject: string;
  /** Colon-separated uppercase hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly sha256: string;
  readonly notAfter: string;
}

/** One listener. */
export interface ListenerStatus {
  readonly name: string;
  readonly direction: "inbound" | "outbound";
  /** The bound address (the real port when the config says 0). */
  readonly address: string;
  /** Inbound: the app's address. */
  readonly forward?: string;
  /** Outbound: the upstream sidecar and the ID (pattern) it must present. */
  readonly upstream?: string;
  readonly expectedPeer?: string;
  /** Accepted connections still open, in handshake or proxying. */
  readonly openConnections: number;
}

/** The whole /status document. All times are ISO 8601 UTC. */
export interface SidecarStatus {
  readonly program: "mesh-sidecar";
  readonly version: VersionInfo;
  readonly startedAt: string;
  readonly trustDomain: string;
  /** As /readyz: the reason is there only when not ready. */
  readonly readiness: { readonly ready: boolean; readonly reason?: string };
  /** null until mesh-ca has issued the first SVID. */
  readonly svid: {
    readonly spiffeId: string;
    /** Uppercase hex, as `openssl x509 -serial` prints it. */
    readonly serial: string;
    readonly sha256: string;
    readonly notBefore: string;
    readonly notAfter: string;
  } | null;
  readonly renewal: {
    /** When the next SVID request is due: the scheduled renewal, or the next retry; null while a request is in flight. */
    readonly nextAttemptAt: string | null;
    /** Requests that failed in a row since the last success. */
    readonly failedAttempts: number;
  };
  readonly bundle: {
    /** `bootstrap` (ca.bundleFile) until mesh-ca sends a bundle, then `mesh-ca`. */
    readonly source: "bootstrap" | "mesh-ca";
    /** spiffe_sequence of the last bundle mesh-ca served (GET /v1/bundle.json); null before the first fetch. */
    readonly sequence: number | null;
    readonly roots: readonly RootStatus[];
  };
  /** null when the config has no policyFile (no inbound listener). */
  readonly policy: {
    readonly file: string;
    /** SHA-256 of the file's bytes in force, hex: compare with `sha256sum FILE`. */
    readonly sha256: string;
    readonly loadedAt: string;
    /** The latest content of the file when it was refused (the policy above stayed in force); null otherwise. */
    readonly lastRefusal: { readonly sha256: string; readonly refusedAt: string; readonly errors: readonly string[] } | null;
  } | null;
  readonly listeners: readonly ListenerStatus[];
}

/** The parts /status reads. */
export interface StatusSources {
  readonly config: SidecarConfig;
  readonly store: CredentialStore;
  /** The bundle from ca.bundleFile, to tell it apart from one mesh-ca sent. */
  readonly bootstrap: TrustBundle;
  readonly renewer: Renewer;
  readonly readiness: ReadinessCheck;
  readonly watcher: PolicyWatcher | undefined;
  readonly listeners: readonly ListenerBase[];
  readonly startedAt: Date;
}

/** Builds the /status document now. */
export function sidecarStatus(s: StatusSources): SidecarStatus {
  const readiness = s.readiness.check();
  const active = s.store.current;
  const bundle = s.store.bundle;
  const next = s.renewer.nextAttemptAt;
  return {
    program: "mesh-sidecar",
    version: versionInfo(),
    startedAt: s.startedAt.toISOString(),
    trustDomain: s.config.trustDomain.name,
    readiness: readiness.ready ? { ready: true } : { ready: false, reason: readiness.reason },
    svid: active
      ? {
          spiffeId: active.svid.id.toString(),
          serial: active.svid.leaf.serialNumber,
          sha256: active.svid.leaf.fingerprint256,
          notBefore: active.svid.notBefore.toISOString(),
          notAfter: active.svid.notAfter.toISOString(),
        }
      : null,
    renewal: { nextAttemptAt: next ? next.toISOString() : null, failedAttempts: s.renewer.failedAttempts },
    bundle: {
      source: bundle === s.bootstrap ? "bootstrap" : "mesh-ca",
      sequence: s.renewer.bundleSequence ?? null,
      roots: bundle.roots.map(rootStatus),
    },
    policy: policyStatus(s),
    listeners: s.listeners.map((l) => listenerStatus(l, s.config)),
  };
}

function rootStatus(cert: X509Certificate): RootStatus {
  return { subject: cert.subject.split("\n").join(", "), sha256: cert.fingerprint256, notAfter: new Date(cert.validTo).toISOString() };
}

function policyStatus({ config, watcher }: StatusSources): SidecarStatus["policy"] {
  const inForce = watcher?.inForce;
  if (config.policyFile === undefined || !inForce) return null;
  const refusal = watcher.lastRefusal;
  return {
    file: config.policyFile,
    sha256: inForce.sha256,
    loadedAt: inForce.loadedAt.toISOString(),
    lastRefusal: refusal ? { sha256: refusal.sha256, refusedAt: refusal.refusedAt.toISOString(), errors: refusal.errors } : null,
  };
}

function listenerStatus(l: ListenerBase, config: SidecarConfig): ListenerStatus {
  const base = { name: l.name, direction: l.direction, address: formatHostPort(l.address) };
  if (l.direction === "inbound") {
    const c = config.inbound.find((i) => i.name === l.name);
    return { ...base, ...(c ? { forward: formatHostPort(c.forward) } : {}), openConnections: l.openConnections };
  }
  const c = config.outbound.find((o) => o.name === l.name);
  return { ...base, ...(c ? { upstream: formatHostPort(c.upstream), expectedPeer: c.expectedPeer.source } : {}), openConnections: l.openConnections };
}
