/**
 * mesh-ca's errors and their stable codes. API errors keep what the caller
 * is told (`message`: what to fix, nothing internal) apart from what the log
 * gets (`cause` and `detail`), after smallstep's errs package. Every code is
 * documented in docs/errors.md; ca/errors.test.ts fails when one is missing.
 */
import { CodedError, type CodeOf } from "../lib/errors.js";

/** Codes of the HTTP API's `{"error": {"code", "message"}}` answers. */
export const ApiErrorCode = {
  INVALID_REQUEST: "INVALID_REQUEST",
  /** The bytes are not an HTTP/1.1 request (refused before routing; see server/client-errors.ts). */
  MALFORMED_REQUEST: "MALFORMED_REQUEST",
  INVALID_CSR: "INVALID_CSR",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
  /** The request was not complete within limits.headersTimeout / limits.requestTimeout. */
  REQUEST_TIMEOUT: "REQUEST_TIMEOUT",
  BODY_TOO_LARGE: "BODY_TOO_LARGE",
  /** The request's headers exceed Node's limit (16 KiB). */
  HEADERS_TOO_LARGE: "HEADERS_TOO_LARGE",
  UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  RATE_LIMITED: "RATE_LIMITED",
  INTERNAL: "INTERNAL",
  UNAVAILABLE: "UNAVAILABLE",
} as const;
export type ApiErrorCode = CodeOf<typeof ApiErrorCode>;

/** The HTTP status of each API error code. */
export const API_ERROR_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  INVALID_REQUEST: 400,
  MALFORMED_REQUEST: 400,
  INVALID_CSR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/** Extra context of an ApiError: for the log only, never the answer. */
export interface ApiErrorOptions {
  /** The underlying error (logged with its stack). */
  cause?: unknown;
  /** Short machine-readable reason for logs, e.g. "token_expired". */
  reason?: string;
  /** More fields for the log line (never a token, key or CSR). */
  detail?: Record<string, unknown>;
  /** Response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

/** An API request was refused or failed; `message` is what the caller sees. */
export class ApiError extends CodedError<ApiErrorCode> {
  readonly status: number;
  readonly reason: string | undefined;
  readonly detail: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = API_ERROR_STATUS[code];
    this.reason = options.reason;
    this.detail = options.detail ?? {};
    this.headers = options.headers ?? {};
  }

  /** The JSON body of the answer: `{"error": {"code", "message"}}`. */
  toJSON(): { error: { code: ApiErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * Codes of failures of the `mesh-ca` commands (besides CONFIG_INVALID and
 * USAGE from lib/): init would overwrite files, or was given a directory
 * holding files it did not write; the signing material is
 * unreadable or unfit; the join-token store cannot be read, parsed or written;
 * `token revoke` named an unknown id; a server could not start; a `rotate`
 * step found the CA directory inconsistent, does not apply to the rotation's
 * state, or is not safe yet. The table in docs/errors.md says more about each.
 */
export const CaErrorCode = {
  WOULD_OVERWRITE: "CA_WOULD_OVERWRITE",
  DIR_NOT_EMPTY: "CA_DIR_NOT_EMPTY",
  SIGNING_MATERIAL_INVALID: "CA_SIGNING_MATERIAL_INVALID",
  TOKEN_STORE_INVALID: "CA_TOKEN_STORE_INVALID",
  TOKEN_NOT_FOUND: "CA_TOKEN_NOT_FOUND",
  STARTUP_FAILED: "CA_STARTUP_FAILED",
  DIRECTORY_INCONSISTENT: "CA_DIRECTORY_INCONSISTENT",
  ROTATION_STATE: "CA_ROTATION_STATE",
  ROTATION_TOO_EARLY: "CA_ROTATION_TOO_EARLY",
} as const;
export type CaErrorCode = CodeOf<typeof CaErrorCode>;

/** A mesh-ca command failed at run time (exit code 1); the message says what to do. */
export class CaError extends CodedError<CaErrorCode> {}
