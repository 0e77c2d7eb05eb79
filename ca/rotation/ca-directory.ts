/**
 * A CA directory checked whole before any rotation step touches it: every
 * pair present (current, next, previous) is a key with its own certificate,
 * a CA of the trust domain, valid now, chaining to a root of the bundle (and
 * able to sign: the same self-test `serve` runs); the files present are
 * exactly those rotation.json's state calls for; roots that name a trust
 * domain name ours. Each refusal names the file and says what to do.
 */
import type { X509Certificate } from "node:crypto";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { certificatesFromPem } from "../../lib/spiffe/certificates.js";
import { BundleError, SvidError, SvidErrorCode } from "../../lib/spiffe/errors.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { checkSigningCertificate } from "../../lib/spiffe/svid.js";
import { CaError, CaErrorCode } from "../errors.js";
import { SigningAuthority } from "../signing/authority.js";
import { AuthorityError } from "../signing/errors.js";
import { bundleSequence } from "./bundle-sequence.js";
import type { CaFileRole, CaFiles } from "./ca-files.js";
import { parseRotationRecord, type RotationMode, type RotationRecord, type RotationState } from "./rotation-record.js";

/** A certificate file and its key file. */
export interface SigningPair {
  readonly certRole: CaFileRole;
  readonly keyRole: CaFileRole;
  readonly certPem: string;
  readonly keyPem: string;
  /** The first certificate of the file: the signer. */
  readonly cert: X509Certificate;
  /** SHA-256 fingerprint, AB:CD:... */
  readonly fingerprint: string;
  /** A self-signed certificate: a root. */
  readonly root: boolean;
}

/** A checked CA directory. */
export interface CaDirectory {
  readonly files: CaFiles;
  readonly record: RotationRecord | undefined;
  readonly state: RotationState;
  readonly mode: RotationMode;
  readonly current: SigningPair;
  readonly next: SigningPair | undefined;
  readonly previous: SigningPair | undefined;
  readonly bundle: TrustBundle;
  /** The bundle's spiffe_sequence (bundle-sequence.ts). */
  readonly sequence: number;
}

/** What a directory is checked against. */
export interface DirectoryCheck {
  trustDomain: TrustDomain;
  now: Date;
}

const RESTORE = "restore it from your copy of the CA directory (or the Secret it was deployed as), then run the command again";

/** rotation.json parsed, or undefined when the directory was never rotated. */
export function rotationRecordOf(files: CaFiles): RotationRecord | undefined {
  const text = files.text("record");
  return text === undefined ? undefined : parseRotationRecord(text, files.path("record"));
}

/** The trust bundle of the directory; throws CaError DIRECTORY_INCONSISTENT. */
export function bundleOf(files: CaFiles, trustDomain: TrustDomain): TrustBundle {
  const text = files.require("bundle", `every CA directory has its trust bundle; ${RESTORE}`);
  try {
    return TrustBundle.fromPem(trustDomain, text);
  } catch (err) {
    if (err instanceof BundleError) throw inconsistent(`${files.path("bundle")}: ${err.message}; ${RESTORE}`);
    throw err;
  }
}

/** The certificate and key of a pair, present and parsed (not yet checked); throws CaError DIRECTORY_INCONSISTENT. */
export function pairOf(files: CaFiles, certRole: CaFileRole, keyRole: CaFileRole, why: string): SigningPair {
  const certPem = files.require(certRole, why);
  const keyPem = files.require(keyRole, why);
  return pairFromPem({ certRole, keyRole, certPem, keyPem }, files.path(certRole), RESTORE);
}

/** A pair from PEM texts; `where` names the certificate's file in messages, `advice` says what to do. */
export function pairFromPem(texts: Pick<SigningPair, "certRole" | "keyRole" | "certPem" | "keyPem">, where: string, advice: string): SigningPair {
  let certs: X509Certificate[];
  try {
    certs = certificatesFromPem(texts.certPem);
  } catch (err) {
    throw inconsistent(`${where}: ${(err as Error).message}; ${advice}`);
  }
  const cert = certs[0] as X509Certificate;
  return { ...texts, cert, fingerprint: cert.fingerprint256, root: cert.checkIssued(cert) && cert.verify(cert.publicKey) };
}

/**
 * Checks that a pair can sign SVIDs that chain to `bundle`: the authority
 * `serve` would build from it, self-test included. Throws CaError
 * DIRECTORY_INCONSISTENT naming the pair's files.
 */
export function checkSigner(files: CaFiles, pair: SigningPair, bundle: TrustBundle, check: DirectoryCheck): SigningAuthority {
  try {
    return SigningAuthority.fromMaterial(
      { certPem: pair.certPem, keyPem: pair.keyPem, chainPem: files.text("chain"), bundlePem: bundle.pem },
      { trustDomain: check.trustDomain, now: check.now },
      { certFile: files.path(pair.certRole), keyFile: files.path(pair.keyRole), chainFile: files.path("chain"), bundleFile: files.path("bundle") },
    );
  } catch (err) {
    if (err instanceof AuthorityError) throw inconsistent(`${err.message}; ${RESTORE}`);
    throw err;
  }
}

/**
 * The parts every state shares: bundle, current pair (checked), the mode it
 * implies and, in root mode, no root of another trust domain in the bundle.
 */
export function checkBase(files: CaFiles, check: DirectoryCheck): { bundle: TrustBundle; current: SigningPair; mode: RotationMode } {
  const bundle = bundleOf(files, check.trustDomain);
  const current = pairOf(files, "cert", "key", `the signing pair is ca.crt and ca.key; ${RESTORE}`);
  checkSigner(files, current, bundle, check);
  const mode: RotationMode = current.root ? "root" : "intermediate";
  if (mode === "root") checkRootsTrustDomain(files, bundle, check);
  return { bundle, current, mode };
}

/**
 * Checks the whole directory against rotation.json's state; throws CaError
 * DIRECTORY_INCONSISTENT, or ROTATION_STATE for a step left half done.
 */
export function checkCaDirectory(files: CaFiles, check: DirectoryCheck): CaDirectory {
  const record = rotationRecordOf(files);
  if (record?.pending) {
    const step = record.pending.step;
    throw new CaError(
      CaErrorCode.ROTATION_STATE,
      `${files.path("record")} shows that "${step}" was begun and did not finish; run mesh-ca rotate ${step} --dir ${files.dir} again to finish it`,
    );
  }
  const state = record?.state ?? "idle";
  const { bundle, current, mode } = checkBase(files, check);
  if (record && record.mode !== mode) {
    throw inconsistent(`${files.path("record")} says a rotation of ${article(record.mode)} is under way, but ${files.path("cert")} is ${article(mode)}; ${RESTORE}`);
  }
  const stray = (roles: CaFileRole[], because: string): void => {
    for (const role of roles) {
      if (files.has(role)) throw inconsistent(`${files.path(role)} should not be there: ${because}; delete it, or restore rotation.json from your copy of the CA directory`);
    }
  };
  let next: SigningPair | undefined;
  let previous: SigningPair | undefined;
  if (state === "idle") {
    stray(["nextCert", "nextKey", "previousCert", "previousKey"], `${files.path("record")} says no rotation is in progress`);
  } else if (state === "prepared") {
    stray(["previousCert", "previousKey"], "a prepared rotation has no previous pair yet");
    next = pairOf(files, "nextCert", "nextKey", `${files.path("record")} says a rotation is prepared, and its next pair is next.crt and next.key; ${RESTORE}`);
    checkSigner(files, next, bundle, check);
    checkKind(files, next, mode);
    if (next.fingerprint === current.fingerprint) throw inconsistent(`${files.path("nextCert")} is the same certificate as ${files.path("cert")}; ${RESTORE}`);
  } else {
    stray(["nextCert", "nextKey"], "an activated rotation has no next pair any more");
    previous = pairOf(files, "previousCert", "previousKey", `${files.path("record")} says a rotation was activated, and it keeps the previous pair as previous.crt and previous.key until retire; ${RESTORE}`);
    checkSigner(files, previous, bundle, check);
    checkKind(files, previous, mode);
    if (previous.fingerprint === current.fingerprint) throw inconsistent(`${files.path("previousCert")} is the same certificate as ${files.path("cert")}; ${RESTORE}`);
  }
  const sequence = bundleSequence(record, bundle.roots.map((r) => r.fingerprint256));
  return { files, record, state, mode, current, next, previous, bundle, sequence };
}

/** In root mode, a root that carries a SPIFFE ID must carry ours: a bundle is one trust domain's. */
function checkRootsTrustDomain(files: CaFiles, bundle: TrustBundle, check: DirectoryCheck): void {
  bundle.roots.forEach((root, i) => {
    try {
      checkSigningCertificate(root, { trustDomain: check.trustDomain, now: new Date(root.validFrom) });
    } catch (err) {
      if (err instanceof SvidError && err.code === SvidErrorCode.WRONG_TRUST_DOMAIN) {
        throw inconsistent(`${files.path("bundle")}: root #${i + 1} (${root.subject.replace(/\n/g, ",")}) belongs to another trust domain: ${err.message}; remove it from the bundle, or check --config names the right trustDomain`);
      }
      if (!(err instanceof SvidError)) throw err;
    }
  });
}

/** The next and previous pairs are of the same kind as the current one: roots in root mode, intermediates in plug-in mode. */
function checkKind(files: CaFiles, pair: SigningPair, mode: RotationMode): void {
  const kind: RotationMode = pair.root ? "root" : "intermediate";
  if (kind !== mode) throw inconsistent(`${files.path(pair.certRole)} is ${article(kind)}, but ${files.path("cert")} is ${article(mode)}: a rotation replaces a certificate by one of the same kind; ${RESTORE}`);
}

function article(mode: RotationMode): string {
  return mode === "root" ? "a root" : "an intermediate";
}

function inconsistent(message: string): CaError {
  return new CaError(CaErrorCode.DIRECTORY_INCONSISTENT, message);
}
