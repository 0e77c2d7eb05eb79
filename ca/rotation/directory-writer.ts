/**
 * Applies a rotation step's changes to the CA directory, one file at a time
 * and in the step's order, each write atomic (temporary file, fsync, rename:
 * ca/tokens/store.ts writeFileAtomic), keys with mode 0600. The order is what
 * makes a step safe to interrupt: rotation.json marks the step pending first,
 * the files needed to finish it are removed last, rotation.json is finished
 * last, so running the same step again completes it (see the steps).
 */
import { chmod, unlink } from "node:fs/promises";
import { writeFileAtomic } from "../tokens/store.js";
import { KEY_ROLES, type CaFileRole, type CaFiles } from "./ca-files.js";

/** The two file operations a step uses; tests replace them to stop a step half way. */
export interface FileOps {
  /** Replaces `path` with `text` atomically; `mode` for a new file. */
  write(path: string, text: string, mode: number): Promise<void>;
  /** Removes `path`; a missing file is not an error. */
  remove(path: string): Promise<void>;
}

/** The real operations. */
export const atomicFileOps: FileOps = {
  async write(path, text, mode) {
    await writeFileAtomic(path, text, mode);
    await chmod(path, mode);
  },
  async remove(path) {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  },
};

/** One change: write the role's file with `text`, or remove it (`text` null). */
export interface FileChange {
  role: CaFileRole;
  text: string | null;
}

/** Applies changes in order; a write whose content is already there is skipped (a step run again after an interruption). */
export async function applyChanges(files: CaFiles, changes: readonly FileChange[], ops: FileOps = atomicFileOps): Promise<void> {
  let current = files;
  for (const change of changes) {
    const path = current.path(change.role);
    if (change.text === null) {
      if (current.has(change.role)) await ops.remove(path);
    } else if (current.text(change.role) !== change.text) {
      await ops.write(path, change.text, KEY_ROLES.includes(change.role) ? 0o600 : 0o644);
    }
    current = current.with(new Map([[change.role, change.text]]));
  }
}
