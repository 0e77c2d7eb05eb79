/**
 * Hot reload of a set of files that belong together (a policy file; a CA's
 * signing key, certificate and bundle). Kubernetes updates a mounted
 * ConfigMap or Secret by swapping a `..data` symlink in the files'
 * directory, which a watch on a file itself never sees, so each file's
 * DIRECTORY is watched, and a periodic stat-then-hash check catches whatever
 * the watch misses (network filesystems, editors that replace files).
 *
 * The set is handed over only when its content changed, and only once every
 * file held still for the settle time and did not change while it was read:
 * a writer caught between truncate and write, or a swap caught between two
 * files, is looked at again once it has settled. Whether the new content is
 * good is the owner's call (onChange); a content it refused is not handed
 * over again until it changes, so one bad write is counted once.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../log.js";

/** One file of the set. */
export interface WatchedFile {
  readonly path: string;
  /** A required file that cannot be read makes the set "not ready yet": nothing is handed over. */
  readonly required: boolean;
}

/** The content of every file of the set, read together. */
export interface FileSetSnapshot {
  /** Text by path; undefined for an optional file that does not exist. */
  readonly texts: ReadonlyMap<string, string | undefined>;
}

/** Options of FileSetWatcher. */
export interface FileSetWatcherOptions {
  readonly files: readonly WatchedFile[];
  /** Called with the new content after a change (not for the baseline); awaited, so calls never overlap. */
  readonly onChange: (snapshot: FileSetSnapshot) => void | Promise<void>;
  readonly log: Logger;
  /** What the files are, for log lines: "policy file", "signing material". */
  readonly what: string;
  /** Fallback check interval; default 5 s. */
  readonly pollIntervalMs?: number;
  /** Quiet time after a directory event before reading; default 100 ms (a swap is several events). */
  readonly debounceMs?: number;
  /** A changed set is read only once sizes and mtimes held still this long; default 100 ms. */
  readonly settleMs?: number;
  /** Watch the directories (default true); false leaves only the periodic check. */
  readonly watchDirectory?: boolean;
}

const DEFAULT_POLL_MS = 5_000;
const DEFAULT_DEBOUNCE_MS = 100;
const DEFAULT_SETTLE_MS = 100;
/** Reads of the baseline retried when the set changed under them. */
const BASELINE_ATTEMPTS = 5;

/** Reads a set of files once, then hands over its content whenever it changes. */
export class FileSetWatcher {
  private lastHash = "";
  private lastStat = "";
  private watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: FileSetWatcherOptions) {}

  /**
   * Reads every file now and takes the content as the baseline that later
   * checks compare against. Throws the read error of a required file.
   */
  async readBaseline(): Promise<FileSetSnapshot> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.statKey();
      const texts = new Map<string, string | undefined>();
      for (const file of this.opts.files) texts.set(file.path, await readText(file));
      const after = await this.statKey();
      if (before === after || attempt >= BASELINE_ATTEMPTS) {
        this.lastStat = after;
        this.lastHash = hashOf(texts);
        return { texts };
      }
    }
  }

  /** Starts watching; call after readBaseline. */
  start(): void {
    if (this.opts.watchDirectory !== false) {
      for (const dir of new Set(this.opts.files.map((f) => dirname(f.path)))) this.watchDir(dir);
    }
    this.poll = setInterval(() => void this.check({ viaPoll: true }), this.opts.pollIntervalMs ?? DEFAULT_POLL_MS);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Checks the files now; resolves when done. Concurrent calls coalesce into one more check. */
  check({ viaPoll = false } = {}): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.checkOnce(viaPoll)
      .catch((err: unknown) => this.opts.log.error({ err }, `checking the ${this.opts.what} for changes failed`))
      .finally(() => {
        this.checking = undefined;
        if (this.again) {
          this.again = false;
          void this.check();
        }
      });
    return this.checking;
  }

  private watchDir(dir: string): void {
    const { log, what } = this.opts;
    try {
      const watcher = watch(dir, { persistent: false }, () => this.soon());
      watcher.on("error", (err) => {
        log.warn({ err: err.message, dir }, `watching the directory of the ${what} failed; relying on periodic checks`);
        watcher.close();
        this.watchers = this.watchers.filter((w) => w !== watcher);
      });
      this.watchers.push(watcher);
    } catch (err) {
      log.warn({ err: (err as Error).message, dir }, `cannot watch the directory of the ${what}; relying on periodic checks`);
    }
  }

  private soon(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private async checkOnce(viaPoll: boolean): Promise<void> {
    // The poll stats first so an unchanged set costs no read; a directory event always reads.
    const statKey = await this.statKey();
    if (viaPoll && statKey === this.lastStat) return;
    // A writer that truncates then writes (an editor, `echo >`) can be caught in between: an empty
    // or partial file would be refused and counted as a failed reload. Read only a set that held
    // still for the settle time; if it is still changing, look again once it has settled.
    await new Promise((resolve) => setTimeout(resolve, this.opts.settleMs ?? DEFAULT_SETTLE_MS));
    if ((await this.statKey()) !== statKey) {
      this.soon();
      return;
    }
    this.lastStat = statKey;
    const texts = new Map<string, string | undefined>();
    for (const file of this.opts.files) {
      try {
        texts.set(file.path, await readText(file));
      } catch (err) {
        // Mid-swap a path can briefly be missing; the next event or poll reads it.
        this.opts.log.debug({ err: (err as Error).message, file: file.path }, `${this.opts.what} not readable right now`);
        return;
      }
    }
    // Changed while being read (one file from before a swap, one from after): read again once settled.
    if ((await this.statKey()) !== statKey) {
      this.soon();
      return;
    }
    const h = hashOf(texts);
    if (h === this.lastHash || this.stopped) return;
    this.lastHash = h;
    await this.opts.onChange({ texts });
  }

  private async statKey(): Promise<string> {
    const keys: string[] = [];
    for (const file of this.opts.files) {
      try {
        const s = await stat(file.path);
        keys.push(`${s.ino}:${s.size}:${s.mtimeMs}`);
      } catch {
        keys.push("missing");
      }
    }
    return keys.join("|");
  }
}

/** The file's text; undefined for a missing optional file; throws for a required one. */
async function readText(file: WatchedFile): Promise<string | undefined> {
  try {
    return await readFile(file.path, "utf8");
  } catch (err) {
    if (!file.required && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function hashOf(texts: ReadonlyMap<string, string | undefined>): string {
  const h = createHash("sha256");
  for (const [path, text] of texts) h.update(`${path}\0${text === undefined ? "\u0001missing" : `\u0002${text}`}\0`);
  return h.digest("hex");
}
