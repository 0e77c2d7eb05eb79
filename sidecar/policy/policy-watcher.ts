/**
 * Hot reload of the policy file, on lib/fs's FileSetWatcher (directory watch
 * for ConfigMap symlink swaps, a periodic check as fallback, a file read only
 * once it held still). A file is loaded only when its content changed; a bad
 * file is refused whole, logged with line:col, counted once per distinct
 * content, and the old policy stays.
 */
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

/** Reads the policy once, then reloads it whenever its content changes. */
export class PolicyWatcher {
  private readonly files: FileSetWatcher;

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
    return loadPolicy(snapshot.texts.get(this.opts.file) ?? "", this.opts.file);
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
    let policy: Policy;
    try {
      policy = loadPolicy(text, file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      metrics.policyReloads.inc({ result: "error" });
      log.error(
        { file, errors: err.message.split("\n"), code: err.code },
        `policy file ${basename(file)} refused; the previous policy stays in force. Fix: ${err.message.split("\n")[0] ?? ""}`,
      );
      return;
    }
    metrics.policyReloads.inc({ result: "ok" });
    log.info({ file, listeners: policy.listeners }, "policy reloaded");
    this.opts.onReload(policy);
  }
}
