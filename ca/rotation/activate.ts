/**
 * `rotate activate`: the prepared next pair becomes the signing pair; the
 * current one is kept as previous.crt/previous.key, and the bundle keeps
 * both roots (its sequence does not change). `mesh-ca serve` reloads, signs
 * every new SVID and its own serving certificate with the new pair.
 *
 * Refused before it is safe (step-timing.ts) unless --force. Order of
 * writes: rotation.json marked pending (from and to fingerprints),
 * previous.key, previous.crt, ca.crt, ca.key, then next.crt and next.key
 * removed, rotation.json activated. Until ca.key is written the directory
 * still signs with the old pair; between ca.crt and ca.key a reload sees a
 * key that does not match and keeps the old pair. Every file the step needs
 * stays until the end, so `activate` run again after an interruption
 * finishes it.
 */
import { createPublicKey } from "node:crypto";
import { CaError, CaErrorCode } from "../errors.js";
import { checkCaDirectory, pairOf, rotationRecordOf, type SigningPair } from "./ca-directory.js";
import { CaFiles, type CaFileRole } from "./ca-files.js";
import type { RotationRecord } from "./rotation-record.js";
import { withRotationLock } from "./rotation-lock.js";
import { checkSafe, commitStep, formatWait, pendingFor, type StepOptions, type StepReport } from "./step-support.js";
import { nextStep } from "./step-timing.js";

/** Runs `rotate activate` on `dir`. */
export async function activateRotation(dir: string, opts: StepOptions): Promise<StepReport> {
  return withRotationLock(dir, async () => {
    const files = await CaFiles.read(dir);
    const record = rotationRecordOf(files);
    const pending = pendingFor(files, record, "activate");
    let warnings: string[] = [];
    let from: SigningPair;
    let to: SigningPair;
    let base: RotationRecord;
    if (pending) {
      ({ from, to } = pairsOfInterrupted(files, pending.from ?? "", pending.to ?? ""));
      base = record as RotationRecord;
      warnings.push("finished an activate that had been interrupted");
    } else {
      const directory = checkCaDirectory(files, { trustDomain: opts.settings.trustDomain, now: opts.now });
      if (directory.state === "idle") {
        throw new CaError(CaErrorCode.ROTATION_STATE, `no rotation is prepared (${files.path("nextCert")} does not exist): run mesh-ca rotate prepare --dir ${dir} first`);
      }
      if (directory.state === "activated") {
        const { safeAt } = nextStep(directory.record, opts.settings);
        throw new CaError(
          CaErrorCode.ROTATION_STATE,
          `the rotation is already activated (at ${directory.record?.activatedAt?.toISOString() ?? "?"}); the next step is mesh-ca rotate retire --dir ${dir}${safeAt ? `, safe from ${safeAt.toISOString()}` : ""}`,
        );
      }
      const refresh = formatWait(opts.settings.bundle.refreshHintMs);
      warnings = checkSafe(
        directory,
        opts,
        `clients fetch the bundle every ${refresh} (bundle.refreshHint), and each must hold the new root before anything is signed by it`,
        `a sidecar that has not fetched the bundle since prepare will refuse peers with SVIDs from the new root, and mesh-ca's own new serving certificate, until its next refresh (within ${refresh})`,
      );
      from = directory.current;
      to = directory.next as SigningPair;
      base = { ...(directory.record as RotationRecord), bundle: { sequence: directory.sequence, roots: directory.bundle.roots.map((r) => r.fingerprint256) } };
    }
    const finalRecord: RotationRecord = { ...withoutPending(base), state: "activated", activatedAt: opts.now };
    const directory = await commitStep(
      files,
      {
        pending: { ...base, pending: { step: "activate", from: from.fingerprint, to: to.fingerprint } },
        changes: [
          { role: "previousKey", text: from.keyPem },
          { role: "previousCert", text: from.certPem },
          { role: "cert", text: to.certPem },
          { role: "key", text: to.keyPem },
          { role: "nextCert", text: null },
          { role: "nextKey", text: null },
        ],
        finalRecord,
      },
      opts,
    );
    const { safeAt } = nextStep(directory.record, opts.settings);
    const later = safeAt && safeAt.getTime() > opts.now.getTime();
    return {
      directory,
      warnings,
      lines: [
        `activated: ${files.path("cert")} is now ${to.fingerprint} (valid until ${new Date(to.cert.validTo).toISOString()}); mesh-ca serve signs with it once it reloads the directory`,
        `  the previous pair is kept as ${files.path("previousCert")} and ${files.path("previousKey")}; ${files.path("bundle")} still trusts both (sequence ${directory.sequence})`,
        "",
        later
          ? `next: publish the directory, then mesh-ca rotate retire --dir ${dir}, safe from ${(safeAt as Date).toISOString()} (in ${formatWait((safeAt as Date).getTime() - opts.now.getTime())}: svid.maxTtl + svid.backdate, when the last SVID of the previous pair has expired)`
          : `next: publish the directory, then mesh-ca rotate retire --dir ${dir} (safe at once: the roots do not change)`,
        "",
      ],
    };
  });
}

/** The record without its pending mark. */
export function withoutPending(record: RotationRecord): RotationRecord {
  const copy = { ...record };
  delete copy.pending;
  return copy;
}

/**
 * The pairs an interrupted activate moves from and to, wherever they are now
 * (ca.*, next.* or previous.*): certificates by fingerprint, keys by matching
 * public key. Throws CaError DIRECTORY_INCONSISTENT when one cannot be found.
 */
function pairsOfInterrupted(files: CaFiles, fromFingerprint: string, toFingerprint: string): { from: SigningPair; to: SigningPair } {
  const find = (fingerprint: string, what: string): SigningPair => {
    const certRoles: CaFileRole[] = ["cert", "nextCert", "previousCert"];
    const keyRoles: CaFileRole[] = ["key", "nextKey", "previousKey"];
    for (const certRole of certRoles) {
      if (!files.has(certRole)) continue;
      for (const keyRole of keyRoles) {
        if (!files.has(keyRole)) continue;
        try {
          const pair = pairOf(files, certRole, keyRole, "");
          if (pair.fingerprint === fingerprint && keyMatches(pair)) return pair;
        } catch {
          // a file that does not parse holds neither
        }
      }
    }
    throw new CaError(
      CaErrorCode.DIRECTORY_INCONSISTENT,
      `the interrupted activate recorded in ${files.path("record")} cannot be finished: no file of ${files.dir} holds the ${what} certificate ${fingerprint} with its key; restore the directory from your copy and run the command again`,
    );
  };
  return { from: find(fromFingerprint, "previous signing"), to: find(toFingerprint, "next signing") };
}

function keyMatches(pair: SigningPair): boolean {
  try {
    return createPublicKey(pair.keyPem).export({ type: "spki", format: "der" }).equals(pair.cert.publicKey.export({ type: "spki", format: "der" }));
  } catch {
    return false;
  }
}
