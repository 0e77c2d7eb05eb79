/**
 * The signature layer of token verification: a compact JWS checked with
 * jose against keys from a JWKS, with the algorithm pinned. Kept apart from
 * the claims layer (kubernetes-claims.ts) so the Wycheproof JWS vectors,
 * whose payloads are not Kubernetes tokens, exercise exactly this code.
 */
import { compactVerify, errors, type CompactJWSHeaderParameters, type CompactVerifyGetKey } from "jose";
import { CodedError, type CodeOf } from "../../lib/errors.js";

/** Algorithms a Kubernetes API server signs service-account tokens with. Never `none`, never HMAC. */
export const TOKEN_ALGORITHMS: readonly string[] = Object.freeze(["RS256", "ES256"]);

/** Why a JWS was refused (the API answers each as UNAUTHENTICATED). */
export const JwsErrorCode = {
  MALFORMED: "JWS_MALFORMED",
  ALGORITHM_NOT_ALLOWED: "JWS_ALGORITHM_NOT_ALLOWED",
  UNKNOWN_KEY: "JWS_UNKNOWN_KEY",
  BAD_SIGNATURE: "JWS_BAD_SIGNATURE",
} as const;
export type JwsErrorCode = CodeOf<typeof JwsErrorCode>;

/** The `reason` the CA's log line gives for each code. */
const LOG_REASON: Readonly<Record<JwsErrorCode, string>> = {
  JWS_MALFORMED: "malformed",
  JWS_ALGORITHM_NOT_ALLOWED: "algorithm_not_allowed",
  JWS_UNKNOWN_KEY: "unknown_key",
  JWS_BAD_SIGNATURE: "bad_signature",
};

/** A JWS was refused: a code, a message the caller can act on, and a short reason for logs. */
export class JwsError extends CodedError<JwsErrorCode> {
  /** The log's `reason` for this refusal, e.g. "bad_signature". */
  get reason(): string {
    return LOG_REASON[this.code];
  }
}

/** A JWS whose signature verified: its protected header and raw payload. */
export interface VerifiedJws {
  header: CompactJWSHeaderParameters;
  payload: Uint8Array;
}

/** Resolves the verification key from the protected header (jose's JWKS getKey shape). */
export type JwsKeyResolver = CompactVerifyGetKey;

/**
 * Verifies a compact-serialised JWS: exactly three base64url parts, `alg`
 * in `algorithms`, `crit` understood, key chosen by `kid`/`alg` from the
 * resolver (jose skips keys whose `use` or `key_ops` forbid verification,
 * and symmetric keys), RSA keys of 2048 bits or more. Throws JwsError.
 */
export async function verifyJwsSignature(
  jws: string,
  keys: JwsKeyResolver,
  algorithms: readonly string[] = TOKEN_ALGORITHMS,
): Promise<VerifiedJws> {
  try {
    const result = await compactVerify(jws, keys, { algorithms: [...algorithms] });
    return { header: result.protectedHeader, payload: result.payload };
  } catch (err) {
    // Anything but a verdict on the token (e.g. the JWKS URL is unreachable) passes through.
    if (err instanceof errors.JOSEError || err instanceof TypeError) throw toJwsError(err, algorithms);
    throw err;
  }
}

function toJwsError(err: Error, algorithms: readonly string[]): JwsError {
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return new JwsError(JwsErrorCode.ALGORITHM_NOT_ALLOWED, `token algorithm is not allowed; tokens must be signed with ${algorithms.join(" or ")}`, { cause: err });
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return new JwsError(JwsErrorCode.UNKNOWN_KEY, "token was not signed by a key of the cluster's service-account issuer (unknown kid)", { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new JwsError(JwsErrorCode.BAD_SIGNATURE, "token signature does not verify", { cause: err });
  }
  return new JwsError(JwsErrorCode.MALFORMED, "token is not a well-formed signed JWT (compact JWS)", { cause: err });
}
