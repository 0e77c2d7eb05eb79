/**
 * One rotate step at a time per CA directory: `rotation.lock`, created
 * exclusively and removed when the step ends. A step takes well under a
 * second, so a lock that stays means a step was killed; the message says to
 * remove it.
 */
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CaError, CaErrorCode } from "../errors.js";

const LOCK_FILE = "rotation.lock";

/** Runs `step` holding the directory's rotation lock; throws CaError ROTATION_STATE when another step holds it. */
export async function withRotationLock<T>(dir: string, step: () => Promise<T>): Promise<T> {
  const lock = join(dir, LOCK_FILE);
  try {
    const handle = await open(lock, "wx", 0o600);
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new CaError(CaErrorCode.ROTATION_STATE, `${lock} exists: another mesh-ca rotate is running on ${dir}; if none is, it was killed: remove ${lock} and run the command again`);
    }
    throw new CaError(CaErrorCode.DIRECTORY_INCONSISTENT, `cannot create ${lock} (${code ?? String(err)}): --dir must be a writable CA directory (rotate works on a local copy, never on a mounted Secret)`);
  }
  try {
    return await step();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
