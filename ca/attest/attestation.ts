/**
 * What every attestor (Kubernetes token, join token, renewal) hands the
 * issuance handler: the SPIFFE ID the credential proves, never one taken
 * from the CSR.
 */
import type { SpiffeId } from "../../lib/spiffe/id.js";
import type { IssuanceMethod } from "../metrics.js";

/** A caller authenticated and authorized for one SPIFFE ID. */
export interface Attestation {
  method: IssuanceMethod;
  id: SpiffeId;
  /** For the audit log: a token hash, join token id or certificate serial; never a secret. */
  credential: Record<string, string>;
  /** Runs right before signing and may still refuse (a join token used up by a concurrent request). */
  commit?: () => Promise<void>;
}
