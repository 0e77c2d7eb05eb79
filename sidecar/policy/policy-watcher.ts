/**
 * Hot reload of the policy file, on lib/fs's FileSetWatcher (directory watch
 * for ConfigMap symlink swaps, a periodic check as fallback, a file read only
 * once it held still). A file is loaded only when its content changed; a bad
 * file is refused whole, logged with line:col, counted once per distinct
 * content, and the old policy stays.
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { ConfigError } from "../../lib/config/errors.js";
import { FileSetWatcher } from "../../lib/fs/file-set-watcher.js";
import type { Logger } from "../../lib/log.js";
import type { SidecarMetrics } from "../metrics.js";
import { loadPolicy, type Policy } from "./policy.js";

/** Options of PolicyWatcher. */
export interface PolicyWatcherOptions {
  readonly file: string;
  /** Called with each newly accepted policy (not the initial one). */
  readonly onReload: (policy: Policy) => void;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** Fallback check interval; default 5 s. */
  readonly pollIntervalMs?: number;
  /** Quiet time after a directory event before reading; default 100 ms (a swap is several events). */
  readonly debounceMs?: number;
  /** A changed file is loaded only once its size and mtime held still this long; default 100 ms. */
  readonly settleMs?: number;
  /** Watch the directory (default true); false leaves only the periodic check. */
  readonly watchDirectory?: boolean;
}

/** Which file content is in force, and since when: what /status shows. */
export interface PolicyFileState {
  /** SHA-256 of the file's bytes, hex. */
  readonly sha256: string;
  /** When this content came into force (was loaded at start or reloaded). */
  readonly loadedAt: Date;
}

/** The last content refused on reload, while it is still the latest content seen. */
export interface PolicyRefusal {
  readonly sha256: string;
  readonly refusedAt: Date;
  /** FILE:LINE:COL: path: message, one per problem. */
  readonly errors: readonly string[];
}

/** Reads the policy once, then reloads it whenever its content changes. */
export class PolicyWatcher {
  private readonly files: FileSetWatcher;
  private loaded: PolicyFileState | undefined;
  private refused: PolicyRefusal | undefined;

  constructor(private readonly opts: PolicyWatcherOptions) {
    const { file, log, pollIntervalMs, debounceMs, settleMs, watchDirectory } = opts;
    this.files = new FileSetWatcher({
      files: [{ path: file, required: true }],
      what: "policy file",
      log,
      onChange: (snapshot) => this.reload(snapshot.texts.get(file) ?? ""),
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(debounceMs === undefined ? {} : { debounceMs }),
      ...(settleMs === undefined ? {} : { settleMs }),
      ...(watchDirectory === undefined ? {} : { watchDirectory }),
    });
  }

  /** Loads the file for the first time; throws ConfigError (bad file) or a read error. */
  async loadInitial(): Promise<Policy> {
    const snapshot = await this.files.readBaseline();
    const text = snapshot.texts.get(this.opts.file) ?? "";
    const policy = loadPolicy(text, this.opts.file);
    this.loaded = { sha256: sha256(text), loadedAt: new Date() };
    return policy;
  }

  /** The content in force (undefined before loadInitial succeeded). */
  get inForce(): PolicyFileState | undefined {
    return this.loaded;
  }

  /** The latest content, when it was refused and the previous policy stayed; cleared by the next good load. */
  get lastRefusal(): PolicyRefusal | undefined {
    return this.refused;
  }

  /** Starts watching; call after loadInitial. */
  start(): void {
    this.files.start();
  }

  stop(): void {
    this.files.stop();
  }

  /** Checks the file now; resolves when done. Concurrent calls coalesce into one more check. */
  check({ viaPoll = false } = {}): Promise<void> {
    return this.files.check({ viaPoll });
  }

  private reload(text: string): void {
    const { file, log, metrics } = this.opts;
    const h = sha256(text);
    let policy: Policy;
    try {
      policy = loadPolicy(text, file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      metrics.policyReloads.inc({ result: "error" });
      this.refused = { sha256: h, refusedAt: new Date(), errors: err.message.split("\n") };
      // Each error once: in `errors`, not again in the message.
      const count = err.issues.length === 1 ? "1 error" : `${err.issues.length} errors`;
      log.error({ file, errors: this.refused.errors, code: err.code }, `policy file ${basename(file)} refused (${count}, see errors); the previous policy stays in force`);
      return;
    }
    metrics.policyReloads.inc({ result: "ok" });
    this.loaded = { sha256: h, loadedAt: new Date() };
    this.refused = undefined;
    log.info({ file, listeners: policy.listeners }, "policy reloaded");
    this.opts.onReload(policy);
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
