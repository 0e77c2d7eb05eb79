/**
 * When a rotation's next step becomes safe, from rotation.json and the
 * timings of the CA's config:
 *
 * - activate, after a new ROOT was prepared: preparedAt + 2 × bundle.refreshHint.
 *   Clients fetch the bundle at the hint, so after two hints every one that
 *   can reach the CA holds the new root and will trust what it signs (and
 *   the CA's own serving certificate, re-issued from it).
 * - retire, after a root was activated: activatedAt + svid.maxTtl +
 *   svid.backdate. The last SVID the previous root signed expires by then,
 *   so nothing still valid chains to the root being removed.
 * - an intermediate under the same roots (plug-in mode) changes no bundle:
 *   both steps are safe at once.
 */
import type { BundleSettings, SvidTimings } from "../config.js";
import type { RotationRecord, RotationStep } from "./rotation-record.js";

/** The timings the safety rules use. */
export interface RotationTimings {
  svid: Pick<SvidTimings, "maxTtlMs" | "backdateMs">;
  bundle: BundleSettings;
}

/** The step that comes next in the record's state, and from when it is safe (undefined: at once). */
export interface NextStep {
  step: RotationStep;
  safeAt: Date | undefined;
}

/** The next step of a rotation and when it becomes safe. */
export function nextStep(record: RotationRecord | undefined, timings: RotationTimings): NextStep {
  if (!record || record.state === "idle") return { step: "prepare", safeAt: undefined };
  const root = record.mode === "root";
  if (record.state === "prepared") {
    const at = record.preparedAt?.getTime() ?? 0;
    return { step: "activate", safeAt: new Date(root ? at + 2 * timings.bundle.refreshHintMs : at) };
  }
  const at = record.activatedAt?.getTime() ?? 0;
  return { step: "retire", safeAt: new Date(root ? at + timings.svid.maxTtlMs + timings.svid.backdateMs : at) };
}
