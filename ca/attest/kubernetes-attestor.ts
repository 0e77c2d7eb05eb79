/**
 * Kubernetes service-account token attestation: every bearer token that is
 * not a join token, in the mode the config chooses: offline against the cluster's JWKS (signature layer jws.ts, key
 * source jwks.ts) or by asking the API server (token-review.ts). The claims
 * layer (kubernetes-claims.ts) is the same in both, so a token is refused
 * for the same reasons, with the same messages, whichever mode runs.
 */
import type { Clock } from "../../lib/clock.js";
import { secretHash, type Logger } from "../../lib/log.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import type { TlsGroup } from "../../lib/tls/groups.js";
import type { KubernetesAttestationConfig } from "../config.js";
import { ApiError, ApiErrorCode, CaError, CaErrorCode } from "../errors.js";
import { acceptBearer, DisabledBearerAttestor, type AcceptedCredential, type Attestation, type Attestor, type BearerTokenKind, type PresentedCredential } from "./attestor.js";
import { JOIN_TOKEN_KIND } from "./join-token-attestor.js";
import { JwksKeySource, JwksUnavailableError } from "./jwks.js";
import { JwsError, refuseCriticalExtensions, TOKEN_ALGORITHMS, verifyJwsSignature } from "./jws.js";
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
  /** Clock of the JWKS refetch cooldown and the TokenReview cache; default systemClock. */
  clock?: Clock;
  /** Key-exchange groups of the TokenReview and JWKS-URL clients; default lib/tls DEFAULT_GROUPS. */
  tlsGroups?: readonly TlsGroup[];
}

/** Kubernetes tokens are the bearer tokens that are not join tokens; the log names one by a short hash. */
export const KUBERNETES_TOKEN_KIND: BearerTokenKind = {
  method: "kubernetes",
  matches: (token) => !JOIN_TOKEN_KIND.matches(token),
  fingerprint: (token) => ({ tokenHash: secretHash(token) }),
};

/** Verifies Kubernetes projected service-account tokens. */
export class KubernetesAttestor implements Attestor {
  readonly method = KUBERNETES_TOKEN_KIND.method;
  readonly summary: Readonly<Record<string, string>>;

  private constructor(
    mode: KubernetesAttestationConfig["mode"],
    private readonly policy: KubernetesTokenPolicy,
    private readonly verify: (token: string, now: Date) => Promise<ServiceAccountIdentity>,
  ) {
    this.summary = { kubernetes: mode };
  }

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
        ...(deps.tlsGroups ? { groups: deps.tlsGroups } : {}),
        ...(deps.clock ? { clock: deps.clock } : {}),
      });
      return new KubernetesAttestor(config.mode, policy, (token, now) => verifyWithJwks(token, now, source, policy));
    }
    const review = config.tokenReview;
    if (!review) throw new Error("tokenReview mode without a tokenReview block");
    const client = new TokenReviewClient({
      ...review,
      audience: config.audience,
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.tlsGroups ? { groups: deps.tlsGroups } : {}),
    });
    return new KubernetesAttestor(config.mode, policy, (token, now) => verifyWithTokenReview(token, now, client, policy));
  }

  accept(credential: PresentedCredential): AcceptedCredential | undefined {
    return acceptBearer(KUBERNETES_TOKEN_KIND, credential, (token, now) => this.attest(token, now));
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
  try {
    refuseCriticalExtensions(header);
  } catch (err) {
    if (err instanceof JwsError) throw new ApiError(ApiErrorCode.UNAUTHENTICATED, err.message, { reason: err.reason });
    throw err;
  }
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

/**
 * The Kubernetes method as the config sets it: the attestor for its mode, or
 * refusals when `attestation.kubernetes` is left out. Throws CaError
 * CA_STARTUP_FAILED when a JWKS file cannot be loaded.
 */
export async function createKubernetesAttestor(config: KubernetesAttestationConfig | undefined, deps: KubernetesAttestorDeps): Promise<Attestor> {
  if (!config) {
    return new DisabledBearerAttestor(
      KUBERNETES_TOKEN_KIND,
      { kubernetes: "off" },
      () => new ApiError(ApiErrorCode.UNAUTHENTICATED, "Kubernetes service-account tokens are not accepted by this CA", { reason: "kubernetes_disabled" }),
    );
  }
  return KubernetesAttestor.create(config, deps).catch((err: unknown) => {
    if (err instanceof JwksUnavailableError) throw new CaError(CaErrorCode.STARTUP_FAILED, err.message, { cause: err });
    throw err;
  });
}
