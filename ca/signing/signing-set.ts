/**
 * What a running mesh-ca signs with and publishes, built whole from the
 * files' content and then swapped in by one assignment: the authority
 * (signing pair, intermediates, bundle: see authority.ts for what is
 * checked), the bundle's spiffe_sequence, and the CA directory's
 * rotation.json. An inconsistent set throws and is never half used.
 */
import { dirname, join } from "node:path";
import type { CaConfig } from "../config.js";
import { bundleSequence } from "../rotation/bundle-sequence.js";
import { parseRotationRecord, ROTATION_FILE, type RotationRecord } from "../rotation/rotation-record.js";
import { SigningAuthority, type AuthorityOptions, type SigningFiles } from "./authority.js";
import { AuthorityError, AuthorityErrorCode } from "./errors.js";

/** The files of a set: the config's `signing` paths and rotation.json beside the signing key. */
export interface SigningSetFiles extends SigningFiles {
  rotationFile: string;
}

/** A validated set. */
export interface SigningSet {
  readonly authority: SigningAuthority;
  readonly sequence: number;
  /** Undefined when the directory was never rotated. */
  readonly rotation: RotationRecord | undefined;
  /** The signing certificate and intermediates, by fingerprint: a change means the serving certificate must be issued again. */
  readonly signerKey: string;
}

/** The files a set is read from. */
export function signingSetFiles(signing: CaConfig["signing"]): SigningSetFiles {
  return { ...signing, rotationFile: join(dirname(signing.keyFile), ROTATION_FILE) };
}

/**
 * Builds a set from file texts (path → text; undefined: missing, allowed only
 * for rotation.json). Throws AuthorityError MATERIAL_INVALID naming the file.
 */
export function buildSigningSet(texts: ReadonlyMap<string, string | undefined>, files: SigningSetFiles, opts: AuthorityOptions): SigningSet {
  const required = (path: string, what: string): string => {
    const text = texts.get(path);
    if (text === undefined) throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, `cannot read the ${what} ${path}: ENOENT`);
    return text;
  };
  const authority = SigningAuthority.fromMaterial(
    {
      certPem: required(files.certFile, "signing certificate"),
      keyPem: required(files.keyFile, "signing key"),
      bundlePem: required(files.bundleFile, "trust bundle"),
      chainPem: files.chainFile === undefined ? undefined : required(files.chainFile, "chain file"),
    },
    opts,
    files,
  );
  const recordText = texts.get(files.rotationFile);
  let rotation: RotationRecord | undefined;
  try {
    rotation = recordText === undefined ? undefined : parseRotationRecord(recordText, files.rotationFile);
  } catch (err) {
    throw new AuthorityError(AuthorityErrorCode.MATERIAL_INVALID, (err as Error).message, { cause: err });
  }
  return {
    authority,
    sequence: bundleSequence(rotation, authority.bundle.roots.map((r) => r.fingerprint256)),
    rotation,
    signerKey: [authority.signingCert, ...authority.intermediates].map((c) => c.fingerprint256).join(" "),
  };
}
