/**
 * What the three rotate steps share: their options and report, the refusal
 * of a step while another one is half done, the timing rule with --force,
 * and the commit: check the directory as it will be after the step, then
 * write it in the step's order with the pending mark first.
 */
import { formatDuration } from "../../lib/duration.js";
import type { RotationSettings } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { checkCaDirectory, type CaDirectory } from "./ca-directory.js";
import type { CaFiles } from "./ca-files.js";
import { applyChanges, atomicFileOps, type FileChange, type FileOps } from "./directory-writer.js";
import { serializeRotationRecord, type PendingStep, type RotationRecord, type RotationStep } from "./rotation-record.js";
import { nextStep } from "./step-timing.js";

/** Options every step takes. */
export interface StepOptions {
  /** Trust domain and timings (DIR/ca.yaml or --config). */
  settings: RotationSettings;
  now: Date;
  /** Run a step before it is safe (activate, retire). */
  force?: boolean;
  /** File operations; default atomic writes. */
  ops?: FileOps;
}

/** What a step did, for the command to print. */
export interface StepReport {
  /** Lines for stdout: what changed and what comes next. */
  lines: string[];
  /** Lines for stderr: what --force risks, a step finished after an interruption. */
  warnings: string[];
  /** The directory after the step. */
  directory: CaDirectory;
}

/** Refuses when rotation.json marks another step as half done; returns the pending mark of `step` if it is the one. */
export function pendingFor(files: CaFiles, record: RotationRecord | undefined, step: RotationStep): PendingStep | undefined {
  const pending = record?.pending;
  if (!pending) return undefined;
  if (pending.step !== step) {
    throw new CaError(
      CaErrorCode.ROTATION_STATE,
      `${files.path("record")} shows that "${pending.step}" was begun and did not finish; run mesh-ca rotate ${pending.step} --dir ${files.dir} again to finish it before anything else`,
    );
  }
  return pending;
}

/**
 * Refuses (CaError ROTATION_TOO_EARLY) a step before it is safe, saying when
 * it will be and why; with force, returns the warning of what it risks.
 */
export function checkSafe(directory: CaDirectory, opts: StepOptions, why: string, risk: string): string[] {
  const { step, safeAt } = nextStep(directory.record, opts.settings);
  if (!safeAt || opts.now.getTime() >= safeAt.getTime()) return [];
  const wait = `${safeAt.toISOString()} (in ${formatWait(safeAt.getTime() - opts.now.getTime())})`;
  if (!opts.force) {
    throw new CaError(
      CaErrorCode.ROTATION_TOO_EARLY,
      `${step} is not safe before ${wait}: ${why}; run it again then (mesh-ca rotate status --dir ${directory.files.dir} shows the time), or pass --force if you accept that ${risk}`,
    );
  }
  return [`warning: --force: running ${step} before it is safe (${wait}): ${risk}`];
}

/** A duration for people: whole seconds, rounded up. */
export function formatWait(ms: number): string {
  return formatDuration(Math.max(1, Math.ceil(ms / 1000)) * 1000);
}

/** The change that writes rotation.json. */
export function recordChange(record: RotationRecord): FileChange {
  return { role: "record", text: serializeRotationRecord(record) };
}

/**
 * Checks that the directory after `changes` is consistent, then applies:
 * `pending` (rotation.json with the step marked) first, `changes` in order,
 * `finalRecord` last. Returns the directory as written.
 */
export async function commitStep(
  files: CaFiles,
  steps: { pending: RotationRecord; changes: readonly FileChange[]; finalRecord: RotationRecord },
  opts: StepOptions,
): Promise<CaDirectory> {
  const all = [recordChange(steps.pending), ...steps.changes, recordChange(steps.finalRecord)];
  const after = files.with(new Map(all.map((c) => [c.role, c.text])));
  // Nothing is written unless the result is a directory every command (and serve) accepts.
  const directory = checkCaDirectory(after, { trustDomain: opts.settings.trustDomain, now: opts.now });
  await applyChanges(files, all, opts.ops ?? atomicFileOps);
  return directory;
}
