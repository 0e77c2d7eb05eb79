/**
 * The signature layer of token verification: a compact JWS checked with
 * jose against keys from a JWKS, with the algorithm pinned. Kept apart from
 * the claims layer (kubernetes-claims.ts) so the Wycheproof JWS vectors,
 * whose payloads are not Kubernetes tokens, exercise exactly this code.
 */
import { compactVerify, decodeProtectedHeader, errors, type CompactJWSHeaderParameters, type CompactVerifyGetKey } from "jose";
import { CodedError, type CodeOf } from "../../lib/errors.js";

/** Algorithms a Kubernetes API server signs service-account tokens with. Never `none`, never HMAC. */
export const TOKEN_ALGORITHMS: readonly string[] = Object.freeze(["RS256", "ES256"]);

/** Why a JWS was refused (the API answers each as UNAUTHENTICATED). */
export const JwsErrorCode = {
  MALFORMED: "JWS_MALFORMED",
  ALGORITHM_NOT_ALLOWED: "JWS_ALGORITHM_NOT_ALLOWED",
  CRITICAL_EXTENSION: "JWS_CRITICAL_EXTENSION",
  UNKNOWN_KEY: "JWS_UNKNOWN_KEY",
  BAD_SIGNATURE: "JWS_BAD_SIGNATURE",
} as const;
export type JwsErrorCode = CodeOf<typeof JwsErrorCode>;

/** The `reason` the CA's log line gives for each code. */
const LOG_REASON: Readonly<Record<JwsErrorCode, string>> = {
  JWS_MALFORMED: "malformed",
  JWS_ALGORITHM_NOT_ALLOWED: "algorithm_not_allowed",
  JWS_CRITICAL_EXTENSION: "unknown_critical_extension",
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
 * Verifies a compact-serialised JWS: exactly three base64url parts, no
 * `crit` (refuseCriticalExtensions), `alg` in `algorithms`, key chosen by `kid`/`alg` from the
 * resolver (jose skips keys whose `use` or `key_ops` forbid verification,
 * and symmetric keys), RSA keys of 2048 bits or more. Throws JwsError.
 */
export async function verifyJwsSignature(
  jws: string,
  keys: JwsKeyResolver,
  algorithms: readonly string[] = TOKEN_ALGORITHMS,
): Promise<VerifiedJws> {
  refuseCriticalExtensions(protectedHeaderOf(jws));
  try {
    const result = await compactVerify(jws, keys, { algorithms: [...algorithms] });
    return { header: result.protectedHeader, payload: result.payload };
  } catch (err) {
    // Anything but a verdict on the token (e.g. the JWKS URL is unreachable) passes through.
    if (err instanceof errors.JOSEError || err instanceof TypeError) throw toJwsError(err, algorithms);
    throw err;
  }
}

/**
 * Refuses a header with a `crit` parameter (RFC 7515 §4.1.11: a recipient
 * must reject critical extensions it does not understand, and mesh-ca
 * understands none; Kubernetes service-account tokens carry none). Without
 * this check jose's refusal (JOSENotSupported) read as a wrong algorithm.
 * Both modes run it, so a token is refused for the same reason in each.
 * Throws JwsError CRITICAL_EXTENSION, or MALFORMED when `crit` is not a
 * non-empty list of names of parameters the header has.
 */
export function refuseCriticalExtensions(header: Record<string, unknown> | undefined): void {
  if (header === undefined || !("crit" in header)) return;
  const crit = header.crit;
  if (!Array.isArray(crit) || crit.length === 0 || !crit.every((name) => typeof name === "string" && name !== "crit" && name in header)) {
    throw new JwsError(JwsErrorCode.MALFORMED, 'token header\'s "crit" is not a list of the names of parameters in the header (RFC 7515 §4.1.11)');
  }
  const names = crit.slice(0, 5).map((name) => JSON.stringify(String(name).slice(0, 40)));
  throw new JwsError(
    JwsErrorCode.CRITICAL_EXTENSION,
    `token header has critical extension${crit.length === 1 ? "" : "s"} ${names.join(", ")}${crit.length > 5 ? ", ..." : ""} that mesh-ca does not understand; Kubernetes service-account tokens have none (remove "crit" from the header)`,
  );
}

/** The decoded protected header of a compact JWS, or undefined when it does not decode (jose then says why). */
function protectedHeaderOf(jws: string): Record<string, unknown> | undefined {
  try {
    return decodeProtectedHeader(jws) as Record<string, unknown>;
  } catch {
    return undefined;
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
