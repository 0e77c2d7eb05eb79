/**
 * `rotation.json` in the CA directory: where a rotation stands (state), when
 * each step ran, the step begun and not finished (pending), and the trust
 * bundle's sequence number with the roots it was given for. Written by
 * `mesh-ca rotate` only, always last of a step's files (and first, as the
 * pending mark); read by `rotate` and by `mesh-ca serve` (sequence, gauges).
 * No key material: it may be shown and copied freely.
 *
 * Certificates are named by their SHA-256 fingerprint in the colon-separated
 * upper-case hex of `openssl x509 -fingerprint -sha256` and `mesh-ca init`.
 */
import { CaError, CaErrorCode } from "../errors.js";

/** What kind of signing certificate is being rotated: a root (bundle changes, waits) or an intermediate under the same roots (no bundle change, no waits). */
export type RotationMode = "root" | "intermediate";
/** Where a rotation stands: no rotation in progress; a next certificate prepared; signing switched, the previous one still kept. */
export type RotationState = "idle" | "prepared" | "activated";
/** The three steps, in order. */
export type RotationStep = "prepare" | "activate" | "retire";

export const ROTATION_STATES: readonly RotationState[] = ["idle", "prepared", "activated"];
export const ROTATION_STEPS: readonly RotationStep[] = ["prepare", "activate", "retire"];

/** A step that was begun and not finished; running the same step again finishes it. */
export interface PendingStep {
  step: RotationStep;
  /** Fingerprint of the certificate the step moves away from (activate: the current signer; retire: the previous one). */
  from?: string;
  /** Fingerprint of the certificate the step moves to (prepare and activate: the next signer). */
  to?: string;
}

/** The parsed rotation.json. */
export interface RotationRecord {
  mode: RotationMode;
  state: RotationState;
  preparedAt?: Date;
  activatedAt?: Date;
  retiredAt?: Date;
  pending?: PendingStep;
  /** The bundle's `spiffe_sequence` and the roots (fingerprints) it was recorded for. */
  bundle: { sequence: number; roots: string[] };
}

/** The file's name in the CA directory. */
export const ROTATION_FILE = "rotation.json";
const VERSION = 1;
const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

/** Parses rotation.json; throws CaError DIRECTORY_INCONSISTENT naming the file and the bad field. */
export function parseRotationRecord(text: string, file: string): RotationRecord {
  const bad = (what: string): never => {
    throw new CaError(
      CaErrorCode.DIRECTORY_INCONSISTENT,
      `${file}: ${what}; it is written only by mesh-ca rotate: restore it from your copy of the CA directory (or the Secret it came from)`,
    );
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return bad("expected a JSON object");
  const o = doc as Record<string, unknown>;
  if (o.version !== VERSION) bad(`expected "version": ${VERSION}`);
  const oneOf = <T extends string>(key: string, choices: readonly T[], value: unknown = o[key]): T => {
    if (typeof value !== "string" || !choices.includes(value as T)) bad(`${key} must be one of ${choices.join(", ")}`);
    return value as T;
  };
  const time = (key: string): Date | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    const d = typeof v === "string" ? new Date(v) : new Date(NaN);
    if (Number.isNaN(d.getTime())) bad(`${key} must be an RFC 3339 time or null`);
    return d;
  };
  const fingerprint = (key: string, v: unknown): string => {
    if (typeof v !== "string" || !FINGERPRINT.test(v)) bad(`${key} must be a SHA-256 fingerprint (AB:CD:...)`);
    return v as string;
  };
  const bundle = o.bundle as Record<string, unknown> | undefined;
  if (typeof bundle !== "object" || bundle === null) return bad('expected "bundle": {"sequence": N, "roots": [...]}');
  const sequence = bundle.sequence;
  if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < 1) bad("bundle.sequence must be an integer >= 1");
  if (!Array.isArray(bundle.roots)) bad("bundle.roots must be a list of fingerprints");
  const roots = (bundle.roots as unknown[]).map((r, i) => fingerprint(`bundle.roots[${i}]`, r));
  let pending: PendingStep | undefined;
  if (o.pending !== undefined && o.pending !== null) {
    const p = o.pending as Record<string, unknown>;
    if (typeof p !== "object") bad("pending must be an object or null");
    pending = { step: oneOf("pending.step", ROTATION_STEPS, p.step) };
    if (p.from !== undefined) pending.from = fingerprint("pending.from", p.from);
    if (p.to !== undefined) pending.to = fingerprint("pending.to", p.to);
  }
  const record: RotationRecord = {
    mode: oneOf("mode", ["root", "intermediate"] as const),
    state: oneOf("state", ROTATION_STATES),
    bundle: { sequence: sequence as number, roots },
  };
  const preparedAt = time("preparedAt");
  const activatedAt = time("activatedAt");
  const retiredAt = time("retiredAt");
  if (preparedAt) record.preparedAt = preparedAt;
  if (activatedAt) record.activatedAt = activatedAt;
  if (retiredAt) record.retiredAt = retiredAt;
  if (pending) record.pending = pending;
  if (record.state !== "idle" && !record.preparedAt) bad(`state ${record.state} needs preparedAt`);
  if (record.state === "activated" && !record.activatedAt) bad("state activated needs activatedAt");
  return record;
}

/** The file text for a record (stable key order, times in UTC). */
export function serializeRotationRecord(record: RotationRecord): string {
  const iso = (d: Date | undefined): string | null => (d ? d.toISOString() : null);
  return `${JSON.stringify(
    {
      version: VERSION,
      mode: record.mode,
      state: record.state,
      preparedAt: iso(record.preparedAt),
      activatedAt: iso(record.activatedAt),
      retiredAt: iso(record.retiredAt),
      pending: record.pending ?? null,
      bundle: record.bundle,
    },
    null,
    2,
  )}\n`;
}
