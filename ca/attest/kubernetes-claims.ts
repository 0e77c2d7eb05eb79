/**
 * The claims layer of Kubernetes service-account token verification, the
 * same in both modes (JWKS and TokenReview): pinned issuer, required
 * audience, `exp` and `iat` required (jose alone would accept a token
 * without `exp`), a small clock tolerance, a maximum lifetime, and a `sub`
 * of the form `system:serviceaccount:<ns>:<sa>`, which becomes
 * `spiffe://<td>/ns/<ns>/sa/<sa>`. Namespace allow/deny lists
 * (authorizeNamespace) run after authentication: they answer 403, the
 * claim checks 401.
 */
import { SpiffeIdError } from "../../lib/spiffe/errors.js";
import { SpiffeId, type TrustDomain } from "../../lib/spiffe/id.js";
import { ApiError, ApiErrorCode } from "../errors.js";

/** What a token must satisfy; built once from config. */
export interface KubernetesTokenPolicy {
  trustDomain: TrustDomain;
  issuer: string;
  audience: string;
  maxTokenLifetimeMs: number;
  clockToleranceMs: number;
  /** Empty: every namespace. */
  allowedNamespaces: ReadonlySet<string>;
  /** Wins over allowedNamespaces. */
  deniedNamespaces: ReadonlySet<string>;
}

/** The workload a valid token stands for. */
export interface ServiceAccountIdentity {
  id: SpiffeId;
  namespace: string;
  serviceAccount: string;
  /** The token's expiry (bounds how long a positive TokenReview may be cached). */
  expiresAt: Date;
  /** From the `kubernetes.io` claim of a projected token, for the audit log. */
  podName?: string;
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

function unauthenticated(message: string, reason: string, detail: Record<string, unknown> = {}): ApiError {
  return new ApiError(ApiErrorCode.UNAUTHENTICATED, message, { reason, detail });
}

/** Parses the JWT payload bytes as a JSON object; throws ApiError 401. */
export function parseClaims(payload: Uint8Array): Record<string, unknown> {
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw unauthenticated("token payload is not JSON: is this a service-account token?", "payload_not_json");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw unauthenticated("token payload is not a JSON object: is this a service-account token?", "payload_not_object");
  }
  return claims as Record<string, unknown>;
}

/** Decodes header and claims of a compact JWT without verifying it (TokenReview mode checks claims before asking the API server). */
export function decodeUnverified(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthenticated("token is not a JWT (expected three dot-separated parts)", "malformed");
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0] as string, "base64url").toString("utf8"));
  } catch {
    throw unauthenticated("token header is not base64url JSON", "malformed");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw unauthenticated("token header is not a JSON object", "malformed");
  return { header: header as Record<string, unknown>, claims: parseClaims(Buffer.from(parts[1] as string, "base64url")) };
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw unauthenticated(`token claim ${name} is not a number`, `bad_${name}`);
  return v * 1000;
}

/** Checks the claims of a token whose signature is (or will be) verified; throws ApiError 401. */
export function checkKubernetesClaims(claims: Record<string, unknown>, policy: KubernetesTokenPolicy, now: Date): ServiceAccountIdentity {
  if (claims.iss !== policy.issuer) {
    throw unauthenticated(`token issuer is not ${policy.issuer}`, "wrong_issuer", { iss: String(claims.iss).slice(0, 200) });
  }
  const aud = claims.aud;
  if (aud === undefined) {
    throw unauthenticated(
      `token has no audience: use a projected service-account token with audience ${policy.audience} (legacy Secret tokens are not accepted)`,
      "no_audience",
    );
  }
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(policy.audience)) {
    throw unauthenticated(`token audience is not ${policy.audience}`, "wrong_audience", { aud: audiences.map(String).slice(0, 10) });
  }
  const exp = numericDate(claims, "exp");
  const iat = numericDate(claims, "iat");
  const nbf = numericDate(claims, "nbf");
  if (exp === undefined) throw unauthenticated("token has no expiry (exp): use a projected service-account token", "no_exp");
  if (iat === undefined) throw unauthenticated("token has no issued-at time (iat): use a projected service-account token", "no_iat");
  const t = now.getTime();
  const tolerance = policy.clockToleranceMs;
  if (exp <= t - tolerance) throw unauthenticated(`token expired at ${new Date(exp).toISOString()}`, "expired");
  if (nbf !== undefined && nbf > t + tolerance) {
    throw unauthenticated(`token is not valid before ${new Date(nbf).toISOString()} (check the clocks)`, "not_yet_valid");
  }
  if (iat > t + tolerance) throw unauthenticated("token was issued in the future (check the clocks)", "issued_in_future");
  if (exp - iat > policy.maxTokenLifetimeMs) {
    throw unauthenticated(
      `token lifetime (exp - iat) is longer than ${Math.round(policy.maxTokenLifetimeMs / 1000)} s: request a shorter-lived projected token`,
      "lifetime_too_long",
    );
  }
  return serviceAccount(claims, policy.trustDomain, exp);
}

/**
 * Authorization after authentication: a denied namespace is refused, and
 * with a non-empty allow list every namespace not on it; throws ApiError 403.
 */
export function authorizeNamespace(identity: ServiceAccountIdentity, policy: KubernetesTokenPolicy): void {
  if (policy.deniedNamespaces.has(identity.namespace)) {
    throw new ApiError(ApiErrorCode.FORBIDDEN, `namespace ${identity.namespace} may not obtain SVIDs from this CA`, {
      reason: "namespace_denied",
      detail: { spiffeId: identity.id.toString() },
    });
  }
  if (policy.allowedNamespaces.size > 0 && !policy.allowedNamespaces.has(identity.namespace)) {
    throw new ApiError(ApiErrorCode.FORBIDDEN, `namespace ${identity.namespace} may not obtain SVIDs from this CA`, {
      reason: "namespace_not_allowed",
      detail: { spiffeId: identity.id.toString() },
    });
  }
}

/** Maps `sub` (and the `kubernetes.io` claim, when present, which must agree) to the workload identity. */
export function serviceAccount(claims: Record<string, unknown>, trustDomain: TrustDomain, expMs: number): ServiceAccountIdentity {
  const sub = claims.sub;
  const match = typeof sub === "string" ? SUBJECT.exec(sub) : null;
  if (!match) throw unauthenticated("token subject is not system:serviceaccount:<namespace>:<name>", "not_service_account");
  const namespace = match[1] as string;
  const name = match[2] as string;
  const k8s = claims["kubernetes.io"];
  let podName: string | undefined;
  if (typeof k8s === "object" && k8s !== null) {
    const info = k8s as { namespace?: unknown; serviceaccount?: { name?: unknown }; pod?: { name?: unknown } };
    if (info.namespace !== namespace || (info.serviceaccount !== undefined && info.serviceaccount.name !== name)) {
      throw unauthenticated("token kubernetes.io claims do not match its subject", "inconsistent_claims");
    }
    if (typeof info.pod?.name === "string") podName = info.pod.name;
  }
  let id: SpiffeId;
  try {
    id = SpiffeId.forServiceAccount(trustDomain, namespace, name);
  } catch (err) {
    if (!(err instanceof SpiffeIdError)) throw err;
    throw unauthenticated("token subject does not name a valid namespace and service account", "bad_subject");
  }
  return { id, namespace, serviceAccount: name, expiresAt: new Date(expMs), ...(podName === undefined ? {} : { podName }) };
}
