import { describe, expect, it } from "vitest";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { ApiError } from "../errors.js";
import { authorizeNamespace, checkKubernetesClaims, decodeUnverified, type KubernetesTokenPolicy } from "./kubernetes-claims.js";

const NOW = new Date("2026-03-01T12:00:00Z");
const T = NOW.getTime() / 1000;
const policy: KubernetesTokenPolicy = {
  trustDomain: TrustDomain.parse("example.org"),
  issuer: "https://kubernetes.default.svc.cluster.local",
  audience: "mesh-ca",
  maxTokenLifetimeMs: 24 * 3600_000,
  clockToleranceMs: 30_000,
  allowedNamespaces: new Set(),
  deniedNamespaces: new Set(["kube-system"]),
};

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    aud: ["mesh-ca"],
    exp: T + 3000,
    iat: T - 600,
    nbf: T - 600,
    iss: policy.issuer,
    sub: "system:serviceaccount:shop:orders",
    "kubernetes.io": { namespace: "shop", pod: { name: "orders-abc" }, serviceaccount: { name: "orders" } },
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

function refusal(fn: () => unknown): { status: number; code: string; message: string; reason: string | undefined } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message, reason: err.reason };
    throw err;
  }
  throw new Error("accepted");
}

describe("checkKubernetesClaims", () => {
  it("maps the service account to its SPIFFE ID and keeps the pod name", () => {
    const identity = checkKubernetesClaims(claims(), policy, NOW);
    expect(identity.id.toString()).toBe("spiffe://example.org/ns/shop/sa/orders");
    expect(identity.podName).toBe("orders-abc");
    expect(identity.expiresAt.getTime()).toBe((T + 3000) * 1000);
  });

  it("accepts a single-string audience and tokens within the clock tolerance", () => {
    expect(checkKubernetesClaims(claims({ aud: "mesh-ca", exp: T - 20, nbf: T + 20, iat: T + 20 }), policy, NOW).namespace).toBe("shop");
  });

  const cases: [string, Record<string, unknown>, RegExp, string][] = [
    ["a wrong issuer", { iss: "https://evil.example" }, /token issuer is not https:\/\/kubernetes.default.svc.cluster.local/, "wrong_issuer"],
    ["a legacy token without aud", { aud: undefined }, /token has no audience/, "no_audience"],
    ["a wrong audience", { aud: ["https://kubernetes.default.svc"] }, /^token audience is not mesh-ca$/, "wrong_audience"],
    ["a token without exp", { exp: undefined }, /no expiry \(exp\)/, "no_exp"],
    ["a token without iat", { iat: undefined }, /no issued-at time/, "no_iat"],
    ["an expired token", { exp: T - 31 }, /token expired at/, "expired"],
    ["a token not valid yet (nbf)", { nbf: T + 31 }, /not valid before/, "not_yet_valid"],
    ["a token issued in the future", { iat: T + 31, nbf: undefined }, /issued in the future/, "issued_in_future"],
    ["a token living longer than the maximum", { iat: T - 600, exp: T + 24 * 3600 }, /lifetime .* longer than 86400 s/, "lifetime_too_long"],
    ["a non-numeric exp", { exp: "tomorrow" }, /claim exp is not a number/, "bad_exp"],
    ["a subject that is not a service account", { sub: "system:node:node-1" }, /subject is not system:serviceaccount/, "not_service_account"],
    ["kubernetes.io claims that contradict the subject", { "kubernetes.io": { namespace: "other" } }, /do not match its subject/, "inconsistent_claims"],
  ];
  for (const [what, over, message, reason] of cases) {
    it(`refuses ${what} with 401 UNAUTHENTICATED`, () => {
      const r = refusal(() => checkKubernetesClaims(claims(over), policy, NOW));
      expect(r).toMatchObject({ status: 401, code: "UNAUTHENTICATED", reason });
      expect(r.message).toMatch(message);
    });
  }
});

describe("authorizeNamespace", () => {
  it("refuses denied namespaces, and with an allow list every other one, with 403 FORBIDDEN", () => {
    const kubeSystem = checkKubernetesClaims(claims({ sub: "system:serviceaccount:kube-system:x", "kubernetes.io": undefined }), policy, NOW);
    expect(refusal(() => authorizeNamespace(kubeSystem, policy))).toMatchObject({ status: 403, code: "FORBIDDEN", reason: "namespace_denied" });
    const shop = checkKubernetesClaims(claims(), policy, NOW);
    expect(() => authorizeNamespace(shop, policy)).not.toThrow();
    const onlyWeb = { ...policy, allowedNamespaces: new Set(["web"]) };
    expect(refusal(() => authorizeNamespace(shop, onlyWeb))).toMatchObject({ status: 403, code: "FORBIDDEN", reason: "namespace_not_allowed" });
    const both = { ...policy, allowedNamespaces: new Set(["kube-system"]) };
    expect(refusal(() => authorizeNamespace(kubeSystem, both)).reason).toBe("namespace_denied");
  });
});

describe("decodeUnverified", () => {
  it("decodes header and claims, and refuses what is not a JWT", () => {
    const token = `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from('{"a":1}').toString("base64url")}.sig`;
    expect(decodeUnverified(token)).toEqual({ header: { alg: "RS256" }, claims: { a: 1 } });
    expect(refusal(() => decodeUnverified("abc")).message).toMatch(/three dot-separated parts/);
    expect(refusal(() => decodeUnverified("a.b.c")).code).toBe("UNAUTHENTICATED");
    const arrayPayload = `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from("[1]").toString("base64url")}.x`;
    expect(refusal(() => decodeUnverified(arrayPayload)).message).toMatch(/not a JSON object/);
  });
});
