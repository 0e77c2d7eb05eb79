/**
 * `mesh-ca serve` follows its signing files without a restart: the signing
 * pair, the chain, the bundle and rotation.json are watched together
 * (lib/fs FileSetWatcher: directory watch for Secret symlink swaps, periodic
 * check as fallback, a set read only once it held still). A changed set is
 * built whole (signing-set.ts); if it is inconsistent it is refused, logged
 * with the file and the reason, counted as mesh_ca_reloads_total{result="error"},
 * and the set in force stays. A good set is staged by the server (a new
 * serving certificate when the signer changed), then made live with one
 * assignment: a request in flight finishes with the set it started with.
 */
import { FileSetWatcher } from "../../lib/fs/file-set-watcher.js";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/log.js";
import type { CaConfig } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { WAITING_STEPS, type CaMetrics } from "../metrics.js";
import { ROTATION_STATES, ROTATION_STEPS } from "../rotation/rotation-record.js";
import { nextStep } from "../rotation/step-timing.js";
import { AuthorityError } from "../signing/errors.js";
import { buildSigningSet, signingSetFiles, type SigningSet, type SigningSetFiles } from "../signing/signing-set.js";

/** Prepares what depends on a new set (may throw: the set is then refused); returns the function that makes it live. */
export type StageSet = (next: SigningSet, previous: SigningSet) => Promise<() => void>;

/** Options of SigningReloader. */
export interface SigningReloaderOptions {
  config: CaConfig;
  clock: Clock;
  metrics: CaMetrics;
  logger: Logger;
  random?: ((n: number) => Uint8Array) | undefined;
  /** Fallback check interval; default 5 s. */
  pollIntervalMs?: number | undefined;
  /** Watch the files' directories (default true). */
  watchDirectory?: boolean | undefined;
}

/** The signing set in force, and what replaces it when the files change. */
export class SigningReloader {
  private stage: StageSet = async () => () => undefined;

  private constructor(
    private readonly opts: SigningReloaderOptions,
    private readonly files: SigningSetFiles,
    private set: SigningSet,
    private readonly watcher: FileSetWatcher,
  ) {
    this.publish(set);
  }

  /** Reads and checks the signing files; throws CaError SIGNING_MATERIAL_INVALID (serve does not start). */
  static async open(opts: SigningReloaderOptions): Promise<SigningReloader> {
    const files = signingSetFiles(opts.config.signing);
    // The watcher is made before the reloader it reports to.
    const live: { reloader?: SigningReloader } = {};
    const watcher = new FileSetWatcher({
      files: [
        { path: files.certFile, required: true },
        { path: files.keyFile, required: true },
        { path: files.bundleFile, required: true },
        ...(files.chainFile === undefined ? [] : [{ path: files.chainFile, required: true }]),
        { path: files.rotationFile, required: false },
      ],
      what: "signing material",
      log: opts.logger,
      onChange: (snapshot) => live.reloader?.reload(snapshot.texts),
      ...(opts.pollIntervalMs === undefined ? {} : { pollIntervalMs: opts.pollIntervalMs }),
      ...(opts.watchDirectory === undefined ? {} : { watchDirectory: opts.watchDirectory }),
    });
    // The first set is built from the watcher's baseline, so later comparisons start from the same bytes.
    let texts: ReadonlyMap<string, string | undefined>;
    try {
      texts = (await watcher.readBaseline()).texts;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, `cannot read the signing material ${e.path ?? ""}: ${e.code ?? e.message}`, { cause: err });
    }
    let set: SigningSet;
    try {
      set = buildSigningSet(texts, files, SigningReloader.authorityOptions(opts));
    } catch (err) {
      if (err instanceof AuthorityError) throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, err.message, { cause: err });
      throw err;
    }
    live.reloader = new SigningReloader(opts, files, set, watcher);
    return live.reloader;
  }

  private static authorityOptions(opts: SigningReloaderOptions): Parameters<typeof buildSigningSet>[2] {
    return { trustDomain: opts.config.trustDomain, now: new Date(opts.clock.now()), ...(opts.random ? { random: opts.random } : {}) };
  }

  /** The set in force. */
  get current(): SigningSet {
    return this.set;
  }

  /** Sets how a new set is staged and made live (the server's serving certificate and TLS context). */
  onSwap(stage: StageSet): void {
    this.stage = stage;
  }

  /** Starts following the files. */
  start(): void {
    this.watcher.start();
  }

  stop(): void {
    this.watcher.stop();
  }

  /** Checks the files now (the watcher does so on its own); resolves when a change found has been handled. */
  check(): Promise<void> {
    return this.watcher.check();
  }

  private async reload(texts: ReadonlyMap<string, string | undefined>): Promise<void> {
    const { metrics, logger } = this.opts;
    const previous = this.set;
    let next: SigningSet;
    let commit: () => void;
    try {
      next = buildSigningSet(texts, this.files, SigningReloader.authorityOptions(this.opts));
      commit = await this.stage(next, previous);
    } catch (err) {
      metrics.reloads.inc({ result: "error" });
      logger.error(
        { event: "signing_reload_refused", code: (err as { code?: string }).code, err: (err as Error).message },
        `new signing material refused; the previous set stays in force. Fix: ${(err as Error).message}`,
      );
      return;
    }
    this.set = next;
    commit();
    this.publish(next);
    metrics.reloads.inc({ result: "ok" });
    logger.info(
      {
        event: "signing_reloaded",
        signerChanged: next.signerKey !== previous.signerKey,
        signingCert: next.authority.signingCert.fingerprint256,
        roots: next.authority.bundle.roots.length,
        sequence: next.sequence,
        rotation: next.rotation?.state ?? "idle",
      },
      "signing material reloaded",
    );
  }

  /** Sets the gauges that describe a set. */
  private publish(set: SigningSet): void {
    const { metrics, config } = this.opts;
    const seconds = (d: Date | undefined): number => (d ? d.getTime() / 1000 : 0);
    metrics.signingCertExpiry.set(set.authority.signingNotAfter.getTime() / 1000);
    metrics.rootExpiry.set(set.authority.bundle.earliestExpiry().getTime() / 1000);
    metrics.bundleRoots.set(set.authority.bundle.roots.length);
    metrics.bundleSequence.set(set.sequence);
    const rotation = set.rotation;
    const state = rotation?.state ?? "idle";
    for (const s of ROTATION_STATES) metrics.rotationState.set({ state: s }, s === state ? 1 : 0);
    const times = { prepare: rotation?.preparedAt, activate: rotation?.activatedAt, retire: rotation?.retiredAt };
    for (const step of ROTATION_STEPS) metrics.rotationStepTime.set({ step }, seconds(times[step]));
    const next = nextStep(rotation, config);
    for (const step of WAITING_STEPS) metrics.rotationSafeTime.set({ step }, step === next.step ? seconds(next.safeAt) : 0);
  }
}
