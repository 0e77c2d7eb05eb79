/**
 * Hot reload of the policy file. Kubernetes updates a mounted ConfigMap by
 * swapping a `..data` symlink in the file's directory, which a watch on the
 * file itself never sees, so the DIRECTORY is watched, and a periodic
 * stat-then-hash check catches whatever the watch misses (network
 * filesystems, editors that replace files). A file is loaded only when its
 * content changed; a bad file is refused whole, logged with line:col,
 * counted once per distinct content, and the old policy stays.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { ConfigError } from "../../lib/config/errors.js";
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

const DEFAULT_POLL_MS = 5_000;
const DEFAULT_DEBOUNCE_MS = 100;
const DEFAULT_SETTLE_MS = 100;

/** Reads the policy once, then reloads it whenever its content changes. */
export class PolicyWatcher {
  private lastHash = "";
  private lastStat = "";
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private loaded: PolicyFileState | undefined;
  private refused: PolicyRefusal | undefined;

  constructor(private readonly opts: PolicyWatcherOptions) {}

  /** Loads the file for the first time; throws ConfigError (bad file) or a read error. */
  async loadInitial(): Promise<Policy> {
    const text = await readFile(this.opts.file, "utf8");
    const policy = loadPolicy(text, this.opts.file);
    this.lastHash = hash(text);
    this.lastStat = await this.statKey();
    this.loaded = { sha256: this.lastHash, loadedAt: new Date() };
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
    const dir = dirname(this.opts.file);
    if (this.opts.watchDirectory !== false) this.watchDir(dir);
    this.poll = setInterval(() => void this.check({ viaPoll: true }), this.opts.pollIntervalMs ?? DEFAULT_POLL_MS);
    this.poll.unref();
  }

  private watchDir(dir: string): void {
    try {
      this.watcher = watch(dir, { persistent: false }, () => this.soon());
      this.watcher.on("error", (err) => {
        this.opts.log.warn({ err: err.message, dir }, "watching the policy directory failed; relying on periodic checks");
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, dir }, "cannot watch the policy directory; relying on periodic checks");
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Checks the file now; resolves when done. Concurrent calls coalesce into one more check. */
  check({ viaPoll = false } = {}): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.checkOnce(viaPoll).finally(() => {
      this.checking = undefined;
      if (this.again) {
        this.again = false;
        void this.check();
      }
    });
    return this.checking;
  }

  private soon(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private async checkOnce(viaPoll: boolean): Promise<void> {
    const { file, log, metrics } = this.opts;
    // The poll stats first so an unchanged file costs no read; a directory event always reads.
    const statKey = await this.statKey();
    if (viaPoll && statKey === this.lastStat) return;
    // A writer that truncates then writes (an editor, `echo >`) can be caught in between: an empty
    // or partial file would be refused and counted as a failed reload. Load only a file that held
    // still for the settle time; if it is still changing, look again once it has settled.
    await new Promise((resolve) => setTimeout(resolve, this.opts.settleMs ?? DEFAULT_SETTLE_MS));
    if ((await this.statKey()) !== statKey) {
      this.soon();
      return;
    }
    this.lastStat = statKey;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      // Mid-swap the path can briefly be missing; the next event or poll reads it.
      log.debug({ err: (err as Error).message, file }, "policy file not readable right now");
      return;
    }
    const h = hash(text);
    if (h === this.lastHash) return;
    this.lastHash = h;
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

  private async statKey(): Promise<string> {
    try {
      const s = await stat(this.opts.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return "missing";
    }
  }
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
