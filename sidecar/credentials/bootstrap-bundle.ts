/**
 * The bootstrap trust bundle (`ca.bundleFile`): the roots the sidecar trusts
 * before mesh-ca sends a bundle of its own, both for the CA's HTTPS and for
 * peers. Read once at start; a file that cannot be read or holds no usable
 * root stops the start.
 */
import { readFile } from "node:fs/promises";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { BundleError } from "../../lib/spiffe/errors.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";

/** Reads and parses `ca.bundleFile`; throws SidecarError FILE_UNREADABLE naming the file. */
export async function readBootstrapBundle(trustDomain: TrustDomain, file: string): Promise<TrustBundle> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `cannot read ca.bundleFile ${file}: ${(err as Error).message}`);
  }
  try {
    return TrustBundle.fromPem(trustDomain, pem);
  } catch (err) {
    if (err instanceof BundleError) throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `ca.bundleFile ${file}: ${err.message}`);
    throw err;
  }
}
