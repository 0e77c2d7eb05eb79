/**
 * The API's own serving certificate: issued from the signing key for the
 * configured DNS names and IPs plus `spiffe://<td>/mesh-ca`, with a key
 * made in memory, and renewed before it expires (lib/spiffe renewAt: half
 * way through its life, with jitter). Renewal builds the new certificate
 * fully, then one call swaps it in; on failure the old one stays and the
 * renewal is retried with capped backoff. Issued from whatever signing
 * authority is in force at the time; when a reload changes the signer, the
 * server issues one from the new authority before the switch (issueWith)
 * and adopts it with the switch.
 */
import type { Clock, TimerHandle } from "../../lib/clock.js";
import type { Logger } from "../../lib/log.js";
import { backoff, renewAt } from "../../lib/spiffe/renewal.js";
import type { SigningAuthority } from "../signing/authority.js";
import { generateWorkloadKey, spkiDer, subjectPublicKeyOf } from "../signing/keys.js";

/** Key and certificate chain in the PEM form a TLS context takes. */
export interface ServingCredentials {
  keyPem: string;
  certChainPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Options of ServingCertificate. */
export interface ServingCertificateOptions {
  /** The signing authority in force (it changes on a reload). */
  authority: () => SigningAuthority;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  lifetimeMs: number;
  backdateMs: number;
  logger: Logger;
  /** Clock for the certificate's validity and the renewal timer. */
  clock: Clock;
  /** Called with new credentials after each renewal. */
  onRenewed: (credentials: ServingCredentials) => void;
}

/** Issues and renews the serving certificate. */
export class ServingCertificate {
  private timer: TimerHandle | undefined;
  private failures = 0;
  private stopped = false;

  private constructor(
    private readonly opts: ServingCertificateOptions,
    private credentials: ServingCredentials,
  ) {}

  /** Issues the first certificate; call start() to keep it renewed. */
  static async create(opts: ServingCertificateOptions): Promise<ServingCertificate> {
    return new ServingCertificate(opts, await issue(opts, opts.authority()));
  }

  /** Issues credentials from `authority` without installing them (a reload stages them). */
  issueWith(authority: SigningAuthority): Promise<ServingCredentials> {
    return issue(this.opts, authority);
  }

  /** Makes `credentials` current (onRenewed is called) and schedules their renewal. */
  adopt(credentials: ServingCredentials): void {
    this.opts.onRenewed(credentials);
    this.credentials = credentials;
    this.failures = 0;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.start();
  }

  get current(): ServingCredentials {
    return this.credentials;
  }

  /** Schedules renewals until stop(). */
  start(): void {
    const now = new Date(this.opts.clock.now());
    this.schedule(renewAt(this.credentials, now).getTime() - now.getTime());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimeout(() => void this.renew(), delayMs);
  }

  private async renew(): Promise<void> {
    try {
      const next = await issue(this.opts, this.opts.authority());
      this.opts.onRenewed(next);
      this.credentials = next;
      this.failures = 0;
      this.opts.logger.info({ notAfter: next.notAfter.toISOString() }, "renewed the API serving certificate");
      this.start();
    } catch (err) {
      const delay = backoff(this.failures++, { base: 1_000, cap: 60_000 });
      this.opts.logger.error({ err, retryInMs: delay }, "renewing the API serving certificate failed; keeping the current one");
      this.schedule(delay);
    }
  }
}

async function issue(opts: ServingCertificateOptions, authority: SigningAuthority): Promise<ServingCredentials> {
  const { privateKey, publicKey } = await generateWorkloadKey();
  const spki = spkiDer(publicKey);
  const issued = authority.issueChecked({
    id: authority.trustDomain.idFromSegments("mesh-ca"),
    spki,
    subjectPublicKey: subjectPublicKeyOf(spki),
    lifetimeMs: opts.lifetimeMs,
    backdateMs: opts.backdateMs,
    now: new Date(opts.clock.now()),
    dnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
  });
  return {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    certChainPem: issued.chainPem,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
  };
}
