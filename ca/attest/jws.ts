/**
 * The signature layer of token verification: a compact JWS checked with
 * jose against keys from a JWKS, with the algorithm pinned. Kept apart from
 * the claims layer (kubernetes-claims.ts) so the Wycheproof JWS vectors,
 * whose payloads are not Kubernetes tokens, exercise exactly this code.
 */
import { compactVerify, errors, type CompactJWSHeaderParameters, type CompactVerifyGetKey } from "jose";

/** Algorithms a Kubernetes API server signs service-account tokens with. Never `none`, never HMAC. */
export const TOKEN_ALGORITHMS: readonly string[] = Object.freeze(["RS256", "ES256"]);

/** Why a JWS was refused, as a short reason for logs, and a message the caller can act on. */
export class JwsError extends Error {
  override readonly name = "JwsError";
  constructor(
    readonly reason: "malformed" | "algorithm_not_allowed" | "unknown_key" | "bad_signature",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
    return new JwsError("algorithm_not_allowed", `token algorithm is not allowed; tokens must be signed with ${algorithms.join(" or ")}`, { cause: err });
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return new JwsError("unknown_key", "token was not signed by a key of the cluster's service-account issuer (unknown kid)", { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new JwsError("bad_signature", "token signature does not verify", { cause: err });
  }
  return new JwsError("malformed", "token is not a well-formed signed JWT (compact JWS)", { cause: err });
}
