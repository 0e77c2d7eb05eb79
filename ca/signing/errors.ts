/**
 * Errors of the CA's signing code, each with a stable code documented in
 * docs/errors.md. None reaches an API caller as it is: the handler answers a
 * CsrError as INVALID_CSR and an AuthorityError as INTERNAL, and at start or
 * in `mesh-ca issue` an AuthorityError becomes CA_SIGNING_MATERIAL_INVALID.
 */
import { CodedError, type CodeOf } from "../../lib/errors.js";

/** Why a CSR was refused. */
export const CsrErrorCode = {
  NOT_PEM: "CSR_NOT_PEM",
  MALFORMED: "CSR_MALFORMED",
  UNSUPPORTED_ALGORITHM: "CSR_UNSUPPORTED_ALGORITHM",
  UNSUPPORTED_KEY: "CSR_UNSUPPORTED_KEY",
  INVALID_KEY: "CSR_INVALID_KEY",
  SIGNATURE: "CSR_SIGNATURE",
} as const;
export type CsrErrorCode = CodeOf<typeof CsrErrorCode>;

/** A CSR was refused; the message is safe to show the caller and says what to fix. */
export class CsrError extends CodedError<CsrErrorCode> {}

/** Why the signing authority could not be built or would not sign. */
export const AuthorityErrorCode = {
  MATERIAL_INVALID: "AUTHORITY_MATERIAL_INVALID",
  FOREIGN_ID: "AUTHORITY_FOREIGN_ID",
  SIGNING_CERT_EXPIRED: "AUTHORITY_SIGNING_CERT_EXPIRED",
  RANDOM_SOURCE: "AUTHORITY_RANDOM_SOURCE",
  PROFILE_BROKEN: "AUTHORITY_PROFILE_BROKEN",
} as const;
export type AuthorityErrorCode = CodeOf<typeof AuthorityErrorCode>;

/** The signing material could not be loaded or is not fit to sign SVIDs, or a request cannot be signed; the message names the file and the rule. */
export class AuthorityError extends CodedError<AuthorityErrorCode> {}

/** A CA key is of a kind the CA does not sign with. */
export class UnsupportedKeyError extends CodedError<"SIGNING_KEY_UNSUPPORTED"> {
  constructor(message: string) {
    super("SIGNING_KEY_UNSUPPORTED", message);
  }
}
