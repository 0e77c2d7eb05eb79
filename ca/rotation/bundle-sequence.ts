/**
 * The trust bundle's `spiffe_sequence`, derived from the CA directory alone
 * so that every `mesh-ca serve` reading the same directory (two replicas on
 * one Secret) publishes the same number without talking to each other:
 *
 * - no rotation.json (the directory was never rotated): 1;
 * - the bundle holds exactly the roots rotation.json recorded: its sequence;
 * - otherwise (the bundle was written and rotation.json not yet, or the
 *   bundle was edited by hand): the recorded sequence + 1, which is also the
 *   number the rotate step writes when it finishes.
 */
import type { RotationRecord } from "./rotation-record.js";

/** The sequence of a bundle with roots `fingerprints` in a directory whose rotation.json is `record`. */
export function bundleSequence(record: RotationRecord | undefined, fingerprints: readonly string[]): number {
  if (!record) return 1;
  const recorded = new Set(record.bundle.roots);
  const same = recorded.size === new Set(fingerprints).size && fingerprints.every((f) => recorded.has(f));
  return same ? record.bundle.sequence : record.bundle.sequence + 1;
}
