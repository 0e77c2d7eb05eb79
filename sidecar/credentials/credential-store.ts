/**
 * The one place the sidecar's credentials live: the current SVID and key,
 * the trust bundle, and the TLS material derived from them. A change is
 * built fully (new server options, new client SecureContext) and then made
 * live with one assignment, after which subscribers (the listeners) swap it
 * into their servers. Established connections keep the context they started
 * with; only new handshakes see the new one.
 */
import type { SecureContext, SecureContextOptions } from "node:tls";
import type { TrustBundle } from "../../lib/spiffe/bundle.js";
import type { TlsConfig } from "../config.js";
import type { Svid } from "./svid-answer.js";
import { clientSecureContext, serverContextOptions } from "../listeners/tls-options.js";

/** Everything a listener needs for new handshakes, built once per change. */
export interface ActiveCredentials {
  readonly svid: Svid;
  readonly bundle: TrustBundle;
  /** For tls.Server#setSecureContext (inbound). */
  readonly serverOptions: SecureContextOptions;
  /** Shared by every outbound connection. */
  readonly clientContext: SecureContext;
}

type Subscriber = (active: ActiveCredentials) => void;

/** Holds the current credentials and tells listeners when they change. */
export class CredentialStore {
  private active: ActiveCredentials | undefined;
  private trust: TrustBundle;
  private readonly subscribers: Subscriber[] = [];

  constructor(
    bootstrapBundle: TrustBundle,
    private readonly tls: TlsConfig,
    private readonly onChange: (active: ActiveCredentials | undefined, bundle: TrustBundle) => void = () => {},
  ) {
    this.trust = bootstrapBundle;
  }

  /** The credentials in force, or undefined before the first SVID. */
  get current(): ActiveCredentials | undefined {
    return this.active;
  }

  /** The roots we trust now: the bootstrap bundle until the CA sends one. */
  get bundle(): TrustBundle {
    return this.trust;
  }

  /** Calls `fn` on every change (and at once if credentials exist); returns an unsubscribe function. */
  subscribe(fn: Subscriber): () => void {
    this.subscribers.push(fn);
    if (this.active) fn(this.active);
    return () => {
      const i = this.subscribers.indexOf(fn);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  /** Makes a validated SVID (and the bundle that came with it) live. */
  install(svid: Svid, bundle: TrustBundle): void {
    this.swap(this.build(svid, bundle), bundle);
  }

  /**
   * Adopts a refreshed bundle. Returns false when it holds the same roots
   * (nothing is rebuilt then), true when the new roots are now in force.
   */
  updateBundle(bundle: TrustBundle): boolean {
    if (sameRoots(bundle, this.trust)) return false;
    const next = this.active ? this.build(this.active.svid, bundle) : undefined;
    this.swap(next, bundle);
    return true;
  }

  private build(svid: Svid, bundle: TrustBundle): ActiveCredentials {
    const material = { keyPem: svid.key.keyPem, certChainPem: svid.certChainPem, bundlePem: bundle.pem };
    return Object.freeze({
      svid,
      bundle,
      serverOptions: serverContextOptions(material, this.tls),
      clientContext: clientSecureContext(material, this.tls),
    });
  }

  private swap(next: ActiveCredentials | undefined, bundle: TrustBundle): void {
    this.active = next;
    this.trust = bundle;
    this.onChange(next, bundle);
    if (next) for (const fn of this.subscribers) fn(next);
  }
}

function sameRoots(a: TrustBundle, b: TrustBundle): boolean {
  return a.roots.length === b.roots.length && a.roots.every((r) => b.hasRoot(r));
}
