/**
 * Keeps an SVID in force: fetches the first one at start, renews at
 * renewAt() (50% of the lifetime ± jitter by default), retries failures with
 * capped exponential backoff, and refreshes the trust bundle: once right
 * after the first SVID (to learn the CA's refresh hint), then every
 * `spiffe_refresh_hint` the CA gives, never less often than
 * `ca.bundleRefresh` (and up to 10% sooner, so sidecars started together
 * spread out). A rotation counts on that: it activates a new root only
 * after twice the hint.
 * The current SVID is served until it expires whatever happens at the CA;
 * once it has expired, requests fall back to the bootstrap credential
 * (token file or join token), as at start.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "../../lib/log.js";
import { secretHash } from "../../lib/log.js";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { backoff, renewAt } from "../../lib/spiffe/renewal.js";
import type { CaClient, CaCredential } from "./ca-client.js";
import type { Clock, TimerHandle } from "../../lib/clock.js";
import type { SidecarConfig } from "../config.js";
import type { CredentialStore } from "./credential-store.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";
import type { SidecarMetrics } from "../metrics.js";
import { validateSvidAnswer } from "./svid-answer.js";
import type { WorkloadKey } from "./workload-key.js";

/** What the renewer works with. */
export interface RenewerDeps {
  readonly config: Pick<SidecarConfig, "trustDomain" | "ca" | "renewal">;
  readonly client: CaClient;
  readonly store: CredentialStore;
  readonly key: WorkloadKey;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random?: () => number;
}

/** Schedules SVID issuance/renewal and bundle refresh. */
export class Renewer {
  private attempt = 0;
  private renewTimer: TimerHandle | undefined;
  private bundleTimer: TimerHandle | undefined;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private nextAt: number | undefined;
  /** The CA's spiffe_refresh_hint, once a bundle fetch has told it. */
  private refreshHintMs: number | undefined;
  private bundleFetched = false;
  private sequence: number | undefined;

  constructor(private readonly deps: RenewerDeps) {}

  /** When the next SVID request is due (a renewal, or a retry after a failure); undefined while one is in flight or after stop. */
  get nextAttemptAt(): Date | undefined {
    return this.nextAt === undefined ? undefined : new Date(this.nextAt);
  }

  /**
   * The spiffe_sequence of the last bundle mesh-ca served (undefined before
   * the first fetch, or from a CA that sends none). Kept here, not on the
   * bundle in force: an SVID answer carries the roots as PEM, without it.
   */
  get bundleSequence(): number | undefined {
    return this.sequence;
  }

  /** Requests that failed in a row since the last SVID was installed (0 after a success). */
  get failedAttempts(): number {
    return this.attempt;
  }

  /** Starts at once; never throws (failures are logged and retried). */
  start(): void {
    this.schedule(0);
    this.scheduleBundleRefresh();
  }

  /** Stops all timers; an in-flight request finishes but installs nothing. */
  stop(): void {
    this.stopped = true;
    this.nextAt = undefined;
    if (this.renewTimer) this.deps.clock.clearTimeout(this.renewTimer);
    if (this.bundleTimer) this.deps.clock.clearTimeout(this.bundleTimer);
  }

  /** Runs one fetch now (used by tests and by the timer); resolves when it has been handled. */
  renewNow(): Promise<void> {
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.renewTimer) this.deps.clock.clearTimeout(this.renewTimer);
    this.nextAt = this.deps.clock.now() + delayMs;
    this.renewTimer = this.deps.clock.setTimeout(() => {
      this.renewTimer = undefined;
      this.nextAt = undefined;
      void this.renewNow();
    }, delayMs);
  }

  private async fetchOnce(): Promise<void> {
    const { config, client, store, key, metrics, log, clock } = this.deps;
    let credential: CaCredential;
    let method: "bootstrap" | "renewal";
    try {
      ({ credential, method } = await this.credential());
      const csr = await key.csrPem();
      const answer = await client.requestSvid(csr, credential, config.ca.ttlMs);
      if (this.stopped) return;
      // Once we hold an SVID, a renewal must keep its ID: an identity does not change under a running pod.
      const expectedId = config.ca.expectedId ?? store.current?.svid.id;
      const { svid, bundle } = validateSvidAnswer(answer, {
        key,
        trustDomain: config.trustDomain,
        ...(expectedId ? { expectedId } : {}),
        now: new Date(clock.now()),
      });
      const first = store.current === undefined;
      store.install(svid, bundle);
      // The first bundle fetch tells the refresh hint; waiting a whole ca.bundleRefresh for it could miss a rotation.
      if (first && !this.bundleFetched) void this.refreshBundle().then(() => this.scheduleBundleRefresh());
      metrics.svidRenewals.inc({ result: "ok" });
      this.attempt = 0;
      const next = nextRenewal(svid, clock.now(), config.renewal, this.deps.random);
      log.info(
        { spiffeId: svid.id.toString(), notAfter: svid.notAfter.toISOString(), renewAt: next.toISOString(), method },
        first ? "obtained the first SVID" : "renewed the SVID",
      );
      this.schedule(next.getTime() - clock.now());
    } catch (err) {
      if (this.stopped) return;
      const invalid = err instanceof SidecarError && err.code === SidecarErrorCode.SVID_INVALID;
      metrics.svidRenewals.inc({ result: invalid ? "invalid" : "error" });
      const retryAfter = err instanceof SidecarError ? (err.details.retryAfterMs ?? 0) : 0;
      const delay = Math.max(retryAfter, backoff(this.attempt, { base: config.renewal.backoffBaseMs, cap: config.renewal.backoffCapMs, ...(this.deps.random ? { random: this.deps.random } : {}) }));
      this.attempt++;
      const current = store.current?.svid;
      log.warn(
        {
          err: describeError(err),
          code: (err as { code?: string }).code,
          attempt: this.attempt,
          retryInMs: delay,
          servingUntil: current && current.notAfter.getTime() > clock.now() ? current.notAfter.toISOString() : null,
        },
        invalid ? "refused the SVID mesh-ca returned; keeping the current one" : "SVID request to mesh-ca failed; will retry",
      );
      this.schedule(delay);
    }
  }

  /** Renewal uses the current SVID while it is valid; otherwise the bootstrap credential. */
  private async credential(): Promise<{ credential: CaCredential; method: "bootstrap" | "renewal" }> {
    const current = this.deps.store.current?.svid;
    if (current && current.notAfter.getTime() > this.deps.clock.now()) {
      return { credential: { kind: "svid", keyPem: current.key.keyPem, certChainPem: current.certChainPem }, method: "renewal" };
    }
    return { credential: { kind: "bearer", token: await this.bootstrapToken() }, method: "bootstrap" };
  }

  private async bootstrapToken(): Promise<string> {
    const { ca } = this.deps.config;
    if (ca.joinToken !== undefined) return ca.joinToken;
    const file = ca.tokenFile as string;
    let token: string;
    try {
      // Re-read every time: the kubelet rotates projected tokens in place.
      token = (await readFile(file, "utf8")).trim();
    } catch (err) {
      throw new SidecarError(SidecarErrorCode.CREDENTIAL_UNAVAILABLE, `cannot read ca.tokenFile ${file}: ${(err as Error).message}`, {}, { cause: err });
    }
    if (token === "") throw new SidecarError(SidecarErrorCode.CREDENTIAL_UNAVAILABLE, `ca.tokenFile ${file} is empty`);
    this.deps.log.debug({ tokenHash: secretHash(token) }, "using the projected service-account token");
    return token;
  }

  /** (Re)schedules the next bundle refresh: the CA's hint, at most ca.bundleRefresh, less up to 10%. */
  private scheduleBundleRefresh(): void {
    if (this.stopped) return;
    if (this.bundleTimer) this.deps.clock.clearTimeout(this.bundleTimer);
    const upper = this.deps.config.ca.bundleRefreshMs;
    const interval = this.refreshHintMs === undefined ? upper : Math.min(this.refreshHintMs, upper);
    const jitter = 1 - 0.1 * (this.deps.random ?? Math.random)();
    this.bundleTimer = this.deps.clock.setTimeout(() => {
      this.bundleTimer = undefined;
      void this.refreshBundle().finally(() => this.scheduleBundleRefresh());
    }, interval * jitter);
  }

  /** GET /v1/bundle.json and adopt it if it parses and differs; failures are logged only. */
  async refreshBundle(): Promise<void> {
    const { client, store, log, config, metrics } = this.deps;
    try {
      const bundle = TrustBundle.fromSpiffeJson(config.trustDomain, await client.fetchBundleJson());
      if (this.stopped) return;
      this.bundleFetched = true;
      const { sequence, refreshHintSeconds } = bundle.metadata;
      if (sequence !== undefined) metrics.bundleSequence.set(sequence);
      this.sequence = sequence;
      this.refreshHintMs = refreshHintSeconds === undefined ? undefined : refreshHintSeconds * 1000;
      if (store.updateBundle(bundle)) log.info({ roots: bundle.roots.length, sequence }, "trust bundle changed");
    } catch (err) {
      log.warn({ err: describeError(err), code: (err as { code?: string }).code }, "trust bundle refresh failed; keeping the current bundle");
    }
  }
}

/** Never renew sooner than this after an issuance (unless the SVID expires sooner), so a CA answering with nearly expired SVIDs cannot make us spin. */
const MIN_RENEWAL_GAP_MS = 1_000;

/**
 * When to renew a freshly received SVID. The fraction applies to the lifetime
 * left from receipt, not from notBefore: the CA backdates notBefore for clock
 * skew (30 s for mesh-ca), and with a short ttl that backdate alone would put
 * "50% of the lifetime" in the past and renew in a loop.
 */
export function nextRenewal(svid: { notBefore: Date; notAfter: Date }, now: number, renewal: { fraction: number; jitter: number }, random?: () => number): Date {
  const notBefore = new Date(Math.max(svid.notBefore.getTime(), now));
  const remaining = svid.notAfter.getTime() - now;
  return renewAt({ notBefore, notAfter: svid.notAfter }, new Date(now), {
    fraction: renewal.fraction,
    jitter: renewal.jitter,
    min: Math.max(0, Math.min(MIN_RENEWAL_GAP_MS, remaining / 2)),
    ...(random ? { random } : {}),
  });
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
