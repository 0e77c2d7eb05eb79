/**
 * Turning mesh-ca's answer into credentials we are willing to serve. Nothing
 * from the answer is used until all of it checks out: the bundle parses and
 * holds only CA roots, the leaf passes every X.509-SVID rule for both TLS
 * roles, carries the expected ID in our trust domain, chains to the bundle,
 * and certifies OUR key. Anything else is refused whole.
 */
import type { X509Certificate as NodeX509Certificate } from "node:crypto";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { certificatesFromPem } from "../../lib/spiffe/certificates.js";
import { verifyChain } from "../../lib/spiffe/chain.js";
import { BundleError, SvidError } from "../../lib/spiffe/errors.js";
import type { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { checkLeafSvid } from "../../lib/spiffe/svid.js";
import type { SvidAnswer } from "./ca-client.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";
import type { WorkloadKey } from "./workload-key.js";

/** A validated SVID with its key and the bundle it came with. */
export interface Svid {
  readonly id: SpiffeId;
  /** Leaf then intermediates, re-encoded from the parsed certificates. */
  readonly certChainPem: string;
  readonly leaf: NodeX509Certificate;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly key: WorkloadKey;
}

/** What validateSvidAnswer checks against. */
export interface AnswerCheck {
  readonly key: WorkloadKey;
  readonly trustDomain: TrustDomain;
  readonly expectedId?: SpiffeId;
  readonly now: Date;
}

/** Validates a CA answer; throws SidecarError SIDECAR_SVID_INVALID naming the broken rule. */
export function validateSvidAnswer(answer: SvidAnswer, check: AnswerCheck): { svid: Svid; bundle: TrustBundle } {
  try {
    const bundle = TrustBundle.fromPem(check.trustDomain, answer.bundle);
    const certs = certificatesFromPem(answer.certChain);
    const leaf = certs[0] as NodeX509Certificate;
    const opts = { now: check.now, trustDomain: check.trustDomain, ...(check.expectedId ? { expectedId: check.expectedId } : {}) };
    // We serve this SVID as a server (inbound) and present it as a client (outbound and renewal).
    const id = checkLeafSvid(leaf, { ...opts, usage: "server" });
    checkLeafSvid(leaf, { ...opts, usage: "client" });
    if (answer.spiffeId !== id.toString()) {
      throw invalid(`the answer says spiffeId ${JSON.stringify(answer.spiffeId.slice(0, 200))} but the certificate carries ${id.toString()}`);
    }
    verifyChain(leaf, certs.slice(1), bundle, check.now);
    if (!leaf.checkPrivateKey(check.key.privateKey)) {
      throw invalid("the certificate's public key is not ours: the CA signed a different key than our CSR's");
    }
    const svid: Svid = {
      id,
      certChainPem: certs.map((c) => c.toString()).join(""),
      leaf,
      // V8 parses OpenSSL's "Nov 27 22:00:00 2026 GMT" form; SVID times have whole seconds.
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
      key: check.key,
    };
    return { svid, bundle };
  } catch (err) {
    if (err instanceof SidecarError) throw err;
    if (err instanceof SvidError || err instanceof BundleError) throw invalid(`${err.code}: ${err.message}`, err);
    throw err;
  }
}

function invalid(message: string, cause?: unknown): SidecarError {
  return new SidecarError(SidecarErrorCode.SVID_INVALID, `refused the SVID from mesh-ca: ${message}`, {}, { cause });
}
