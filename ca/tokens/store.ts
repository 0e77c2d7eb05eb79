/**
 * The join-token store file: JSON holding, per token, its id, SHA-256 hash,
 * bound SPIFFE ID, expiry, remaining uses and whether it was revoked; never
 * the token. Shared by `mesh-ca token` and the server. Every change is made
 * under a lock file, on a fresh read, and written atomically (temporary file,
 * fsync, rename) with mode 0600, so the CLI and a running server (or two
 * commands) never lose each other's changes and a reader never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat, unlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { SpiffeIdError } from "../../lib/spiffe/errors.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { CaError, CaErrorCode } from "../errors.js";

/** One token as stored. */
export interface JoinTokenRecord {
  /** Public id: first 12 hex digits of the hash. */
  id: string;
  /** SHA-256 of the token, 64 hex digits. */
  hash: string;
  spiffeId: SpiffeId;
  createdAt: Date;
  expiresAt: Date;
  usesLeft: number;
  revoked: boolean;
}

/** A token's state as `token list` shows it. */
export type JoinTokenState = "active" | "expired" | "revoked" | "used";

const STORE_VERSION = 1;
const LOCK_RETRY_MS = 20;
const LOCK_TIMEOUT_MS = 5_000;
const STALE_LOCK_MS = 30_000;

/** The state of a record at `now`; revoked wins over expired wins over used. */
export function tokenState(record: JoinTokenRecord, now: Date): JoinTokenState {
  if (record.revoked) return "revoked";
  if (record.expiresAt.getTime() <= now.getTime()) return "expired";
  if (record.usesLeft <= 0) return "used";
  return "active";
}

function storeError(file: string, message: string, cause?: unknown): CaError {
  return new CaError(CaErrorCode.TOKEN_STORE_INVALID, `join-token store ${file}: ${message}`, cause === undefined ? undefined : { cause });
}

/** Parses store text; throws CaError TOKEN_STORE_INVALID naming the first bad entry. */
export function parseTokenStore(text: string, file: string): JoinTokenRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw storeError(file, `not JSON: ${(err as Error).message}`);
  }
  const root = doc as { version?: unknown; tokens?: unknown };
  if (typeof doc !== "object" || doc === null || root.version !== STORE_VERSION || !Array.isArray(root.tokens)) {
    throw storeError(file, `expected {"version": ${STORE_VERSION}, "tokens": [...]}`);
  }
  return root.tokens.map((entry: unknown, i) => parseRecord(entry, `${file}: tokens[${i}]`));
}

function parseRecord(entry: unknown, where: string): JoinTokenRecord {
  const e = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new CaError(CaErrorCode.TOKEN_STORE_INVALID, `join-token store ${where}: ${what}`);
  };
  const date = (key: string): Date => {
    const d = typeof e[key] === "string" ? new Date(e[key]) : new Date(NaN);
    if (Number.isNaN(d.getTime())) bad(`${key} must be an RFC 3339 time`);
    return d;
  };
  if (typeof e.id !== "string" || !/^[0-9a-f]{12}$/.test(e.id)) bad("id must be 12 hex digits");
  if (typeof e.hash !== "string" || !/^[0-9a-f]{64}$/.test(e.hash)) bad("hash must be 64 hex digits (SHA-256)");
  if (!(e.hash as string).startsWith(e.id as string)) bad("id must be the first 12 digits of hash");
  let spiffeId: SpiffeId | undefined;
  try {
    spiffeId = SpiffeId.parse(typeof e.spiffeId === "string" ? e.spiffeId : "");
  } catch (err) {
    if (!(err instanceof SpiffeIdError)) throw err;
    bad(`spiffeId: ${err.message}`);
  }
  if (typeof e.usesLeft !== "number" || !Number.isSafeInteger(e.usesLeft) || e.usesLeft < 0) bad("usesLeft must be an integer >= 0");
  if (typeof e.revoked !== "boolean") bad("revoked must be true or false");
  return {
    id: e.id as string,
    hash: e.hash as string,
    spiffeId: spiffeId as SpiffeId,
    createdAt: date("createdAt"),
    expiresAt: date("expiresAt"),
    usesLeft: e.usesLeft as number,
    revoked: e.revoked as boolean,
  };
}

/** The store file text for records (stable key order, one token per line block). */
export function serializeTokenStore(records: readonly JoinTokenRecord[]): string {
  const tokens = records.map((r) => ({
    id: r.id,
    hash: r.hash,
    spiffeId: r.spiffeId.toString(),
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    usesLeft: r.usesLeft,
    revoked: r.revoked,
  }));
  return `${JSON.stringify({ version: STORE_VERSION, tokens }, null, 2)}\n`;
}

/** Reads and parses the store; throws CaError TOKEN_STORE_INVALID (also when missing). */
export async function readTokenStore(file: string): Promise<JoinTokenRecord[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw storeError(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); "mesh-ca init" creates an empty one`, err);
  }
  return parseTokenStore(text, file);
}

/** Writes text to `file` atomically with mode 0600: temporary file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const handle = await open(temp, "wx", mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** Creates an empty store (for `mesh-ca init`). */
export async function createEmptyTokenStore(file: string): Promise<void> {
  await writeFileAtomic(file, serializeTokenStore([]));
}

/**
 * Changes the store under its lock: reads it fresh, lets `change` edit the
 * records (and compute a result), writes it back atomically. `change` may
 * throw to leave the file untouched.
 */
export async function updateTokenStore<T>(file: string, change: (records: JoinTokenRecord[]) => T | Promise<T>): Promise<T> {
  const release = await acquireLock(file);
  try {
    const records = await readTokenStore(file);
    const result = await change(records);
    try {
      await writeFileAtomic(file, serializeTokenStore(records));
    } catch (err) {
      throw storeError(file, `cannot write it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
    }
    return result;
  } finally {
    await release();
  }
}

async function acquireLock(file: string): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(lock, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => unlink(lock).catch(() => undefined);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw storeError(file, `cannot create the lock file ${lock} (${code ?? String(err)})`, err);
    }
    // A holder that crashed leaves its lock behind; nobody holds it for this long on purpose.
    const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_LOCK_MS) {
      await unlink(lock).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw storeError(file, `${lock} is held by another process; remove it if no mesh-ca command is running`);
    await sleep(LOCK_RETRY_MS);
  }
}
