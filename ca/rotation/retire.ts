/**
 * `rotate retire`: the end of a rotation. In root mode the previous root
 * leaves bundle.pem (its sequence goes up by one), so nothing it signed is
 * trusted any more; in plug-in mode the bundle stays as it is. Either way
 * previous.crt and previous.key are deleted.
 *
 * Refused before it is safe (step-timing.ts) unless --force. Order of
 * writes: rotation.json marked pending (the previous certificate's
 * fingerprint), bundle.pem, previous.key and previous.crt removed,
 * rotation.json idle. `retire` run again after an interruption finishes it.
 */
import { CaError, CaErrorCode } from "../errors.js";
import { withoutPending } from "./activate.js";
import { bundleOf, checkBase, checkCaDirectory, rotationRecordOf } from "./ca-directory.js";
import { CaFiles } from "./ca-files.js";
import { bundleSequence } from "./bundle-sequence.js";
import type { RotationMode, RotationRecord } from "./rotation-record.js";
import { withRotationLock } from "./rotation-lock.js";
import { checkSafe, commitStep, formatWait, pendingFor, type StepOptions, type StepReport } from "./step-support.js";

/** Runs `rotate retire` on `dir`. */
export async function retireRotation(dir: string, opts: StepOptions): Promise<StepReport> {
  return withRotationLock(dir, async () => {
    const files = await CaFiles.read(dir);
    const record = rotationRecordOf(files);
    const pending = pendingFor(files, record, "retire");
    const check = { trustDomain: opts.settings.trustDomain, now: opts.now };
    let warnings: string[] = [];
    let previous: string;
    let mode: RotationMode;
    let base: RotationRecord;
    if (pending) {
      ({ mode } = checkBase(files, check));
      previous = pending.from ?? "";
      base = record as RotationRecord;
      warnings.push("finished a retire that had been interrupted");
    } else {
      const directory = checkCaDirectory(files, check);
      if (directory.state !== "activated") {
        throw new CaError(
          CaErrorCode.ROTATION_STATE,
          directory.state === "idle"
            ? `there is no previous pair to retire (${files.path("previousCert")} does not exist): no rotation has been activated; start one with mesh-ca rotate prepare --dir ${dir}`
            : `the rotation is prepared but not activated, so there is no previous pair yet: run mesh-ca rotate activate --dir ${dir} first`,
        );
      }
      const maxTtl = formatWait(opts.settings.svid.maxTtlMs);
      warnings = checkSafe(
        directory,
        opts,
        `SVIDs signed by the previous root before activate can be valid for svid.maxTtl (${maxTtl}) + svid.backdate, and removing the root from the bundle makes them untrusted`,
        "a workload still holding an SVID of the previous root is refused by every peer (untrusted) and cannot renew with it; it has to bootstrap again with its token",
      );
      ({ mode } = directory);
      previous = (directory.previous as NonNullable<typeof directory.previous>).fingerprint;
      base = { ...(directory.record as RotationRecord), bundle: { sequence: directory.sequence, roots: directory.bundle.roots.map((r) => r.fingerprint256) } };
    }
    const bundle = bundleOf(files, opts.settings.trustDomain);
    const kept = mode === "root" ? bundle.roots.filter((r) => r.fingerprint256 !== previous) : [...bundle.roots];
    const fingerprints = kept.map((r) => r.fingerprint256);
    const sequence = bundleSequence(base, fingerprints);
    const finalRecord: RotationRecord = { ...withoutPending(base), state: "idle", retiredAt: opts.now, bundle: { sequence, roots: fingerprints } };
    const directory = await commitStep(
      files,
      {
        pending: { ...base, pending: { step: "retire", from: previous } },
        changes: [
          { role: "bundle", text: kept.map((r) => r.toString()).join("") },
          { role: "previousKey", text: null },
          { role: "previousCert", text: null },
        ],
        finalRecord,
      },
      opts,
    );
    return {
      directory,
      warnings,
      lines: [
        mode === "root"
          ? `retired the previous root ${previous}: removed from ${files.path("bundle")} (now ${kept.length} root${kept.length === 1 ? "" : "s"}, sequence ${sequence}), its key deleted`
          : `retired the previous intermediate ${previous}: its certificate and key deleted; ${files.path("bundle")} is unchanged (sequence ${sequence})`,
        `  signing: ${files.path("cert")} (${directory.current.fingerprint}); the rotation is complete`,
        "",
        "next: publish the directory; mesh-ca serve and the sidecars drop the old root within a bundle refresh",
        "",
      ],
    };
  });
}
