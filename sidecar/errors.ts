/**
 * Errors of mesh-sidecar. Each carries a stable `code` (documented in
 * docs/sidecar.md); the message says what is wrong and what to do.
 */
import { CodedError } from "../lib/errors.js";

/** Stable codes of SidecarError. */
export const SidecarErrorCode = {
  /** The CA could not be reached, or its TLS certificate did not verify against the bootstrap bundle. */
  CA_UNREACHABLE: "SIDECAR_CA_UNREACHABLE",
  /** The CA answered with an HTTP error (its `error.code` is kept in `caCode`). */
  CA_REFUSED: "SIDECAR_CA_REFUSED",
  /** The CA answered 200 with a body that is not the documented shape. */
  CA_BAD_RESPONSE: "SIDECAR_CA_BAD_RESPONSE",
  /** A returned SVID or bundle failed validation; the current SVID stays. */
  SVID_INVALID: "SIDECAR_SVID_INVALID",
  /** No usable bootstrap credential: token file unreadable or empty, or none configured. */
  CREDENTIAL_UNAVAILABLE: "SIDECAR_CREDENTIAL_UNAVAILABLE",
  /** A file named in the config (bundle, policy) cannot be read or parsed. */
  FILE_UNREADABLE: "SIDECAR_FILE_UNREADABLE",
  /** A listener could not bind its address. */
  LISTEN_FAILED: "SIDECAR_LISTEN_FAILED",
} as const;
export type SidecarErrorCode = (typeof SidecarErrorCode)[keyof typeof SidecarErrorCode];

/** A runtime failure of the sidecar with a stable code. */
export class SidecarError extends CodedError<SidecarErrorCode> {
  override readonly name = "SidecarError";
  constructor(
    code: SidecarErrorCode,
    message: string,
    readonly details: { status?: number; caCode?: string; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
