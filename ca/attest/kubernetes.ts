/**
 * Kubernetes service-account token attestation, in the mode the config
 * chooses: offline against the cluster's JWKS (signature layer jws.ts, key
 * source jwks.ts) or by asking the API server (token-review.ts). The claims
 * layer (kubernetes-claims.ts) is the same in both, so a token is refused
 * for the same reasons, with the same messages, whichever mode runs.
 */
import { secretHash, type Logger } from "../../lib/log.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import type { KubernetesAttestationConfig } from "../config.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import type { Attestation } from "./attestation.js";
import { JwksKeySource, JwksUnavailableError } from "./jwks.js";
import { JwsError, TOKEN_ALGORITHMS, verifyJwsSignature } from "./jws.js";
import {
  authorizeNamespace,
  checkKubernetesClaims,
  decodeUnverified,
  parseClaims,
  type KubernetesTokenPolicy,
  type ServiceAccountIdentity,
} from "./kubernetes-claims.js";
import { TokenReviewClient } from "./token-review.js";

/** Dependencies of KubernetesAttestor. */
export interface KubernetesAttestorDeps {
  trustDomain: TrustDomain;
  logger: Logger;
  /** Milliseconds clock for caches and cooldowns; default Date.now. */
  clock?: () => number;
}

/** Verifies Kubernetes projected service-account tokens. */
export class KubernetesAttestor {
  private constructor(
    private readonly policy: KubernetesTokenPolicy,
    private readonly verify: (token: string, now: Date) => Promise<ServiceAccountIdentity>,
  ) {}

  /** Builds the attestor for the configured mode (loads a JWKS file or fetches the URL once). */
  static async create(config: KubernetesAttestationConfig, deps: KubernetesAttestorDeps): Promise<KubernetesAttestor> {
    const policy: KubernetesTokenPolicy = {
      trustDomain: deps.trustDomain,
      issuer: config.issuer,
      audience: config.audience,
      maxTokenLifetimeMs: config.maxTokenLifetimeMs,
      clockToleranceMs: config.clockToleranceMs,
      allowedNamespaces: new Set(config.allowedNamespaces),
      deniedNamespaces: new Set(config.deniedNamespaces),
    };
    if (config.mode === "jwks") {
      const jwks = config.jwks;
      if (!jwks) throw new Error("jwks mode without a jwks block");
      const source = await JwksKeySource.create({
        ...(jwks.file === undefined ? {} : { file: jwks.file }),
        ...(jwks.url === undefined ? {} : { url: jwks.url }),
        ...(jwks.caFile === undefined ? {} : { caFile: jwks.caFile }),
        refetchCooldownMs: jwks.refetchCooldownMs,
        logger: deps.logger,
        ...(deps.clock ? { now: deps.clock } : {}),
      });
      return new KubernetesAttestor(policy, (token, now) => verifyWithJwks(token, now, source, policy));
    }
    const review = config.tokenReview;
    if (!review) throw new Error("tokenReview mode without a tokenReview block");
    const client = new TokenReviewClient({ ...review, audience: config.audience, ...(deps.clock ? { now: deps.clock } : {}) });
    return new KubernetesAttestor(policy, (token, now) => verifyWithTokenReview(token, now, client, policy));
  }

  /** Authenticates a token and authorizes its namespace; throws ApiError (401, 403, 503). */
  async attest(token: string, now: Date): Promise<Attestation> {
    const identity = await this.verify(token, now);
    authorizeNamespace(identity, this.policy);
    return {
      method: "kubernetes",
      id: identity.id,
      credential: { tokenHash: secretHash(token), ...(identity.podName === undefined ? {} : { pod: identity.podName }) },
    };
  }
}

async function verifyWithJwks(token: string, now: Date, source: JwksKeySource, policy: KubernetesTokenPolicy): Promise<ServiceAccountIdentity> {
  let payload: Uint8Array;
  try {
    ({ payload } = await verifyJwsSignature(token, source.getKey));
  } catch (err) {
    if (err instanceof JwsError) {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, err.message, { reason: err.reason, cause: err.cause });
    }
    if (err instanceof JwksUnavailableError) {
      throw new ApiError(ApiErrorCode.UNAVAILABLE, "the CA cannot verify Kubernetes tokens right now; try again shortly", {
        reason: "jwks_unavailable",
        cause: err,
      });
    }
    throw err;
  }
  return checkKubernetesClaims(parseClaims(payload), policy, now);
}

async function verifyWithTokenReview(
  token: string,
  now: Date,
  client: TokenReviewClient,
  policy: KubernetesTokenPolicy,
): Promise<ServiceAccountIdentity> {
  // The claims are checked locally first (the API server does not know our
  // issuer pin, lifetime bound or clock tolerance) and spare it bad tokens.
  const { header, claims } = decodeUnverified(token);
  if (typeof header.alg !== "string" || !TOKEN_ALGORITHMS.includes(header.alg)) {
    throw new ApiError(ApiErrorCode.UNAUTHENTICATED, `token algorithm is not allowed; tokens must be signed with ${TOKEN_ALGORITHMS.join(" or ")}`, {
      reason: "algorithm_not_allowed",
    });
  }
  const identity = checkKubernetesClaims(claims, policy, now);
  const { username } = await client.review(token, identity.expiresAt);
  if (username !== claims.sub) {
    throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "token subject does not match the user the Kubernetes API authenticated", {
      reason: "tokenreview_user_mismatch",
      detail: { username },
    });
  }
  return identity;
}
