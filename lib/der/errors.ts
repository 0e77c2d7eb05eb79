/**
 * The error of the strict DER reader. Callers translate it at their edge:
 * the SVID checks into SvidError SVID_MALFORMED, the CA's CSR parsing into
 * CsrError (answered as INVALID_CSR), so a client never sees DER_MALFORMED.
 */
import { CodedError } from "../errors.js";

/** Input is not strict DER (X.690 §10) or not the structure asked for; the message says which rule and where. */
export class DerError extends CodedError<"DER_MALFORMED"> {}

/** Throws DerError DER_MALFORMED, with the byte offset when there is one. */
export function malformed(message: string, offset?: number): never {
  throw new DerError("DER_MALFORMED", offset === undefined ? message : `${message} (byte ${offset})`);
}
