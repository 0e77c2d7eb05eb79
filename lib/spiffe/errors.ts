/**
 * Errors of the SPIFFE identity library. Each carries a stable `code` callers
 * switch on; the message states the rule that was broken.
 */
import { CodedError, type CodeOf } from "../errors.js";

/** Codes for SPIFFE ID and trust domain parsing. */
export const SpiffeIdErrorCode = {
  EMPTY: "SPIFFE_ID_EMPTY",
  SCHEME: "SPIFFE_ID_SCHEME",
  TRUST_DOMAIN: "SPIFFE_ID_TRUST_DOMAIN",
  PATH: "SPIFFE_ID_PATH",
  TOO_LONG: "SPIFFE_ID_TOO_LONG",
  PATTERN: "SPIFFE_ID_PATTERN",
} as const;
export type SpiffeIdErrorCode = CodeOf<typeof SpiffeIdErrorCode>;

/** A string is not a valid SPIFFE ID, trust domain or ID pattern. */
export class SpiffeIdError extends CodedError<SpiffeIdErrorCode> {}

/**
 * Codes for X.509-SVID and signing-certificate checks: one code per broken
 * rule, so callers (metrics, API errors, tests) can tell them apart.
 */
export const SvidErrorCode = {
  MALFORMED: "SVID_MALFORMED",
  DUPLICATE_EXTENSION: "SVID_DUPLICATE_EXTENSION",
  NO_URI_SAN: "SVID_NO_URI_SAN",
  MULTIPLE_URI_SANS: "SVID_MULTIPLE_URI_SANS",
  INVALID_SPIFFE_ID: "SVID_INVALID_SPIFFE_ID",
  ROOT_ID: "SVID_ROOT_ID",
  WRONG_TRUST_DOMAIN: "SVID_WRONG_TRUST_DOMAIN",
  WRONG_ID: "SVID_WRONG_ID",
  EMPTY_SUBJECT_SAN_NOT_CRITICAL: "SVID_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
  CA_LEAF: "SVID_CA_LEAF",
  BASIC_CONSTRAINTS: "SVID_BASIC_CONSTRAINTS",
  NO_KEY_USAGE: "SVID_NO_KEY_USAGE",
  KEY_USAGE_NOT_CRITICAL: "SVID_KEY_USAGE_NOT_CRITICAL",
  NO_DIGITAL_SIGNATURE: "SVID_NO_DIGITAL_SIGNATURE",
  KEY_CERT_SIGN: "SVID_KEY_CERT_SIGN",
  CRL_SIGN: "SVID_CRL_SIGN",
  EKU: "SVID_EKU",
  SERIAL: "SVID_SERIAL",
  MISSING_KEY_IDENTIFIER: "SVID_MISSING_KEY_IDENTIFIER",
  NOT_YET_VALID: "SVID_NOT_YET_VALID",
  EXPIRED: "SVID_EXPIRED",
  UNTRUSTED: "SVID_UNTRUSTED",
  SIGNING_CERT_NOT_CA: "SIGNING_CERT_NOT_CA",
  SIGNING_CERT_NO_KEY_CERT_SIGN: "SIGNING_CERT_NO_KEY_CERT_SIGN",
  SIGNING_CERT_PATH: "SIGNING_CERT_PATH",
} as const;
export type SvidErrorCode = CodeOf<typeof SvidErrorCode>;

/** A certificate is not an acceptable X.509-SVID (or signing certificate). */
export class SvidError extends CodedError<SvidErrorCode> {}

/** Codes for trust bundle parsing (PEM and SPIFFE bundle JSON). */
export const BundleErrorCode = {
  EMPTY: "BUNDLE_EMPTY",
  MALFORMED: "BUNDLE_MALFORMED",
  NOT_CA: "BUNDLE_NOT_CA",
  INVALID_JWK: "BUNDLE_INVALID_JWK",
  KEY_MISMATCH: "BUNDLE_KEY_MISMATCH",
} as const;
export type BundleErrorCode = CodeOf<typeof BundleErrorCode>;

/** A trust bundle cannot be used: nothing in it, not parseable, or not CA roots. */
export class BundleError extends CodedError<BundleErrorCode> {}
