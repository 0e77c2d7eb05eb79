/**
 * Errors of the SPIFFE identity library. Each carries a stable `code` callers
 * switch on; the message states the rule that was broken.
 */

/** Codes for SPIFFE ID and trust domain parsing. */
export const SpiffeIdErrorCode = {
  EMPTY: "SPIFFE_ID_EMPTY",
  SCHEME: "SPIFFE_ID_SCHEME",
  TRUST_DOMAIN: "SPIFFE_ID_TRUST_DOMAIN",
  PATH: "SPIFFE_ID_PATH",
  TOO_LONG: "SPIFFE_ID_TOO_LONG",
  PATTERN: "SPIFFE_ID_PATTERN",
} as const;
export type SpiffeIdErrorCode = (typeof SpiffeIdErrorCode)[keyof typeof SpiffeIdErrorCode];

/** A string is not a valid SPIFFE ID, trust domain or ID pattern. */
export class SpiffeIdError extends Error {
  override readonly name = "SpiffeIdError";
  constructor(
    readonly code: SpiffeIdErrorCode,
    message: string,
  ) {
    super(message);
  }
}
