/**
 * `rotate prepare`: a next signing pair beside the current one, nothing
 * signed by it yet.
 *
 * Root mode (ca.crt is a root, as `init` makes it): a new key and root
 * (same key types and lifetimes as `init`) become next.key and next.crt and
 * are added to bundle.pem, so clients learn to trust the new root before it
 * signs anything; the bundle's sequence goes up by one. Plug-in mode (ca.crt
 * is an intermediate of an existing PKI): the new intermediate and key come
 * from --cert and --key, must chain to a root already in the bundle, and
 * the bundle does not change.
 *
 * Order of writes: rotation.json marked pending (with the new certificate's
 * fingerprint), next.key, next.crt, bundle.pem, rotation.json prepared.
 * Interrupted anywhere, the directory still serves with the old pair, and
 * `prepare` run again finishes (with the same next pair if it was written).
 */
import { createPrivateKey } from "node:crypto";
import { CA_DEFAULTS } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { generateCaKey, type CaKeyType } from "../signing/keys.js";
import { createRootCertificate } from "../signing/root.js";
import type { TrustBundle } from "../../lib/spiffe/bundle.js";
import { SigningAuthority } from "../signing/authority.js";
import { AuthorityError } from "../signing/errors.js";
import { bundleOf, checkBase, checkCaDirectory, pairFromPem, pairOf, rotationRecordOf, type SigningPair } from "./ca-directory.js";
import { CaFiles } from "./ca-files.js";
import { bundleSequence } from "./bundle-sequence.js";
import type { RotationMode, RotationRecord } from "./rotation-record.js";
import { withRotationLock } from "./rotation-lock.js";
import { commitStep, formatWait, pendingFor, type StepOptions, type StepReport } from "./step-support.js";
import { nextStep } from "./step-timing.js";

/** Options of prepare. */
export interface PrepareOptions extends StepOptions {
  /** Root mode: the new root's key type; default the current root's (ec-p256 if it is of another kind). */
  keyType?: CaKeyType;
  /** Root mode: the new root's lifetime. */
  validityMs: number;
  /** Plug-in mode: the new intermediate and its key (PEM), with the files they came from for messages. */
  intermediate?: { certPem: string; keyPem: string; certFile: string; keyFile: string };
}

/** Runs `rotate prepare` on `dir`. */
export async function prepareRotation(dir: string, opts: PrepareOptions): Promise<StepReport> {
  return withRotationLock(dir, async () => {
    const files = await CaFiles.read(dir);
    const record = rotationRecordOf(files);
    const pending = pendingFor(files, record, "prepare");
    const check = { trustDomain: opts.settings.trustDomain, now: opts.now };
    // checkBase/checkCaDirectory refuse an inconsistent directory before anything is made or written.
    let mode: RotationMode;
    let current: SigningPair;
    // The record on disk while the step runs: as found when resuming, else one that describes the bundle as it is now.
    let base: RotationRecord;
    if (pending) {
      ({ mode, current } = checkBase(files, check));
      base = record as RotationRecord;
    } else {
      const directory = checkCaDirectory(files, check);
      if (directory.state === "prepared") {
        const { safeAt } = nextStep(directory.record, opts.settings);
        throw new CaError(
          CaErrorCode.ROTATION_STATE,
          `a rotation is already prepared (${files.path("nextCert")}, prepared at ${directory.record?.preparedAt?.toISOString() ?? "?"}); continue with mesh-ca rotate activate --dir ${dir}` +
            (safeAt ? `, safe from ${safeAt.toISOString()}` : ""),
        );
      }
      if (directory.state === "activated") {
        const { safeAt } = nextStep(directory.record, opts.settings);
        throw new CaError(
          CaErrorCode.ROTATION_STATE,
          `the last rotation is not finished: ${files.path("previousCert")} is still kept; run mesh-ca rotate retire --dir ${dir}` + (safeAt ? ` (safe from ${safeAt.toISOString()})` : "") + " before preparing another",
        );
      }
      ({ mode, current } = directory);
      const roots = directory.bundle.roots.map((r) => r.fingerprint256);
      base = { ...(record ?? { mode, state: "idle" }), mode, bundle: { sequence: directory.sequence, roots } };
    }
    if (mode === "intermediate" && !opts.intermediate) {
      throw new CaError(
        CaErrorCode.ROTATION_STATE,
        `${files.path("cert")} is an intermediate of an existing PKI (plug-in mode): mesh-ca cannot make its successor; get a new intermediate certificate and key under the same root and pass them with --cert FILE --key FILE`,
      );
    }
    if (mode === "root" && opts.intermediate) {
      throw new CaError(
        CaErrorCode.ROTATION_STATE,
        `${files.path("cert")} is a root made by mesh-ca init: prepare makes the new root itself (--key-type, --validity); --cert and --key are for plug-in mode, where ca.crt is an intermediate`,
      );
    }
    const resumed = pending?.to ? leftNextPair(files, pending.to) : undefined;
    const next = resumed ?? (mode === "root" ? await newRoot(opts, current) : givenIntermediate(opts));
    const bundle = bundleOf(files, opts.settings.trustDomain);
    const roots = bundle.roots.map((r) => r.toString());
    if (mode === "root" && !bundle.hasRoot(next.cert)) roots.push(next.cert.toString());
    const bundlePem = roots.join("");
    const fingerprints = bundle.roots.map((r) => r.fingerprint256);
    if (mode === "root" && !fingerprints.includes(next.fingerprint)) fingerprints.push(next.fingerprint);
    // The sequence the finished step records is the one serve derives for the new bundle while rotation.json still says otherwise.
    const sequence = bundleSequence(base, fingerprints);
    if (mode === "intermediate" && !resumed) checkGivenIntermediate(files, next, opts, bundle);
    const finalRecord: RotationRecord = {
      mode,
      state: "prepared",
      preparedAt: opts.now,
      ...(record?.retiredAt ? { retiredAt: record.retiredAt } : {}),
      bundle: { sequence, roots: fingerprints },
    };
    const directory = await commitStep(
      files,
      {
        pending: { ...base, mode, pending: { step: "prepare", to: next.fingerprint } },
        changes: [
          { role: "nextKey", text: next.keyPem },
          { role: "nextCert", text: next.certPem },
          { role: "bundle", text: bundlePem },
        ],
        finalRecord,
      },
      opts,
    );
    const safe = nextStep(directory.record, opts.settings).safeAt;
    const waits = safe && safe.getTime() > opts.now.getTime();
    return {
      directory,
      warnings: pending ? [`finished a prepare that had been interrupted${resumed ? " (with the next pair it had written)" : ""}`] : [],
      lines: [
        mode === "root"
          ? `prepared a new root: ${files.path("nextCert")} (key ${files.path("nextKey")}, mode 0600), added to ${files.path("bundle")} (now ${roots.length} roots, sequence ${sequence})`
          : `prepared a new intermediate: ${files.path("nextCert")} (key ${files.path("nextKey")}, mode 0600); ${files.path("bundle")} is unchanged (sequence ${sequence})`,
        `  SHA-256 fingerprint ${next.fingerprint}, valid until ${new Date(next.cert.validTo).toISOString()}`,
        `  signing is unchanged: ${files.path("cert")} (${current.fingerprint})`,
        "",
        waits
          ? `next: publish the directory (mesh-ca serve reloads it), then mesh-ca rotate activate --dir ${dir}, safe from ${(safe as Date).toISOString()} (in ${formatWait((safe as Date).getTime() - opts.now.getTime())}: twice the bundle refresh hint, so every client holds the new root first)`
          : `next: publish the directory (mesh-ca serve reloads it), then mesh-ca rotate activate --dir ${dir} (safe at once: the bundle did not change)`,
        "",
      ],
    };
  });
}

/** The next pair an interrupted prepare wrote, if both files are there and are the certificate it marked. */
function leftNextPair(files: CaFiles, fingerprint: string): SigningPair | undefined {
  if (!files.has("nextCert") || !files.has("nextKey")) return undefined;
  try {
    const pair = pairOf(files, "nextCert", "nextKey", "");
    return pair.fingerprint === fingerprint ? pair : undefined;
  } catch {
    return undefined;
  }
}

async function newRoot(opts: PrepareOptions, current: SigningPair): Promise<SigningPair> {
  const keyType = opts.keyType ?? keyTypeOf(current.keyPem);
  const { privateKey } = await generateCaKey(keyType);
  const cert = await createRootCertificate({
    trustDomain: opts.settings.trustDomain,
    privateKey,
    notBefore: new Date(opts.now.getTime() - CA_DEFAULTS.backdateMs),
    validityMs: opts.validityMs,
    // Apart from the root it replaces, for people reading chains and for path building by name.
    commonName: `mesh-ca root ${opts.now.toISOString().replace(/[-:]|\.\d{3}/g, "")}`,
  });
  const certPem = `${cert.toString("pem")}\n`;
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return pairFromPem({ certRole: "nextCert", keyRole: "nextKey", certPem, keyPem }, "the new root", "");
}

function givenIntermediate(opts: PrepareOptions): SigningPair {
  const given = opts.intermediate as NonNullable<PrepareOptions["intermediate"]>;
  return pairFromPem(
    { certRole: "nextCert", keyRole: "nextKey", certPem: given.certPem, keyPem: given.keyPem },
    given.certFile,
    "give the PEM certificate of the new intermediate (then its own intermediates, if any)",
  );
}

/**
 * The intermediate from --cert/--key, checked under the names the user gave
 * before it is copied in: its own key, a CA of the trust domain, under a root
 * already in the bundle (the commit checks the whole directory again).
 */
function checkGivenIntermediate(files: CaFiles, next: SigningPair, opts: PrepareOptions, bundle: TrustBundle): void {
  const given = opts.intermediate as NonNullable<PrepareOptions["intermediate"]>;
  const advice = `get a certificate and key of an intermediate CA under a root of ${files.path("bundle")}`;
  if (next.root) throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, `${given.certFile} is a self-signed root, not an intermediate; ${advice}`);
  try {
    SigningAuthority.fromMaterial(
      { certPem: next.certPem, keyPem: next.keyPem, chainPem: files.text("chain"), bundlePem: bundle.pem },
      { trustDomain: opts.settings.trustDomain, now: opts.now },
      { certFile: given.certFile, keyFile: given.keyFile, chainFile: files.path("chain"), bundleFile: files.path("bundle") },
    );
  } catch (err) {
    if (err instanceof AuthorityError) throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, `${err.message}; ${advice}`);
    throw err;
  }
}

/** The key type of the current root, so a rotation keeps it unless told otherwise. */
function keyTypeOf(keyPem: string): CaKeyType {
  const key = createPrivateKey(keyPem);
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec") return details.namedCurve === "secp384r1" ? "ec-p384" : "ec-p256";
  if (key.asymmetricKeyType === "rsa") return (details.modulusLength ?? 0) >= 3072 ? "rsa-3072" : "rsa-2048";
  return "ec-p256";
}
