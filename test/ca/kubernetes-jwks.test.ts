/**
 * Kubernetes projected tokens verified offline against the cluster's JWKS
 * (from the API double's /openid/v1/jwks over HTTPS, and from a file),
 * through the real server: the happy path and every refusal the issue lists,
 * each with its HTTP status and error code.
 */
import { createPublicKey } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock, type Clock } from "../../lib/clock.js";
import { secretHash } from "../../lib/log.js";
import { KubernetesApiDouble, createSigningKey, hmacToken, unsecuredToken, b64json } from "../fixtures/kubernetes-api.js";
import {
  configFor,
  expectIssued,
  expectRefusal,
  initCaDir,
  makeCsr,
  metricValue,
  requestSvid,
  startTestServer,
  tempDir,
  type TestCaServer,
} from "./support.js";

const ORDERS = "spiffe://example.org/ns/shop/sa/orders";
const now = (): Date => new Date();
/** The CA's clock for cooldowns; tests move it past the 30s JWKS refetch cooldown. */
let cooldownOffsetMs = 0;
const cacheClock: Clock = { ...systemClock, now: () => Date.now() + cooldownOffsetMs };
const afterCooldown = (): void => {
  cooldownOffsetMs += 31_000;
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let k8s: KubernetesApiDouble;
let ca: TestCaServer;

beforeAll(async () => {
  dir = await tempDir("ca-jwks-");
  await initCaDir(dir.path);
  k8s = await KubernetesApiDouble.start();
  await writeFile(join(dir.path, "k8s-ca.crt"), k8s.caPem);
  const config = configFor(
    dir.path,
    `attestation:
  kubernetes:
    mode: jwks
    deniedNamespaces: [kube-system]
    jwks:
      url: ${k8s.url}/openid/v1/jwks
      caFile: k8s-ca.crt
      refetchCooldown: 30s
limits:
  ratePerIdentity: 1000
  rateBurst: 1000
`,
  );
  ca = await startTestServer(config, { cacheClock });
});

afterAll(async () => {
  await ca?.stop();
  await k8s?.close();
  await dir?.cleanup();
});

describe("Kubernetes tokens against the JWKS", () => {
  it("fetches the JWKS once at start", () => {
    expect(k8s.hits.get("/openid/v1/jwks")).toBe(1);
  });

  it("issues the service account's SVID, with one audit line that has the token's hash but not the token", async () => {
    const token = await k8s.mintToken({ namespace: "shop", serviceAccount: "orders" });
    const { csrPem } = await makeCsr();
    const answer = await requestSvid(ca.server, csrPem, { bearer: token });
    const body = await expectIssued(answer, ORDERS, ca.bundlePem);
    const audit = ca.logs.events("svid_issued");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      spiffeId: ORDERS,
      method: "kubernetes",
      notAfter: body.expiresAt,
      remoteAddress: "127.0.0.1",
      tokenHash: secretHash(token),
    });
    expect(typeof audit[0]?.serial).toBe("string");
    expect(ca.logs.raw.join("\n")).not.toContain(token);
    expect(ca.logs.raw.join("\n")).not.toContain(csrPem.split("\n")[1]);
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="kubernetes",result="issued"}')).toBe(1);
  });

  it("issues for an ES256 key too", async () => {
    // The cluster moves to an EC service-account key; the CA refetches on the new kid.
    const es = k8s.rotateKey("ES256");
    afterCooldown();
    const token = await k8s.mintToken({ key: es, serviceAccount: "payments" });
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/shop/sa/payments", ca.bundlePem);
  });

  describe("refuses", () => {
    const refusals: [string, () => Promise<string>, RegExp][] = [
      ["alg: none", async () => unsecuredToken(claimsOf(await k8s.mintToken())), /algorithm is not allowed/],
      [
        "HS256 signed with the cluster's public key (algorithm confusion)",
        async () => {
          const publicPem = createPublicKey(k8s.currentKey.privateKey).export({ type: "spki", format: "pem" });
          return hmacToken(claimsOf(await k8s.mintToken()), publicPem, k8s.currentKey.kid);
        },
        /algorithm is not allowed/,
      ],
      ["a wrong aud", () => k8s.mintToken({ audiences: ["https://kubernetes.default.svc"] }), /^token audience is not mesh-ca$/],
      ["a wrong iss", () => k8s.mintToken({ claims: { iss: "https://other-cluster.example" } }), /token issuer is not/],
      ["an expired token", () => k8s.mintToken({ issuedAt: new Date(now().getTime() - 2 * 3600_000) }), /token expired at/],
      ["nbf in the future", () => k8s.mintToken({ claims: { nbf: Math.floor(now().getTime() / 1000) + 600 } }), /not valid before/],
      ["a token without exp", () => k8s.mintToken({ claims: { exp: undefined } }), /no expiry \(exp\)/],
      ["an unknown kid", () => k8s.mintToken({ key: createSigningKey("RS256") }), /unknown kid/],
      [
        "a tampered payload",
        async () => {
          const [header, , signature] = (await k8s.mintToken()).split(".");
          const forged = { ...claimsOf(await k8s.mintToken()), sub: "system:serviceaccount:kube-system:admin" };
          return `${header}.${b64json(forged)}.${signature}`;
        },
        /signature does not verify/,
      ],
      [
        "a legacy Secret token without aud",
        () =>
          k8s.mintToken({
            claims: { aud: undefined, exp: undefined, nbf: undefined, "kubernetes.io": undefined, "kubernetes.io/serviceaccount/namespace": "shop" },
          }),
        /no audience/,
      ],
      ["a token longer-lived than maxTokenLifetime", () => k8s.mintToken({ expirationSeconds: 48 * 3600 }), /lifetime/],
      ["a garbage bearer token", () => Promise.resolve("not-a-jwt"), /not a well-formed signed JWT/],
      [
        "a token header with a critical extension",
        () => k8s.mintToken({ header: { crit: ["exp-hint"], "exp-hint": 60 } }),
        /^token header has critical extension "exp-hint" that mesh-ca does not understand; Kubernetes service-account tokens have none/,
      ],
      ["a token header whose crit names no parameter of the header", () => k8s.mintToken({ header: { crit: ["nowhere"] } }), /"crit" is not a list of the names of parameters/],
    ];
    for (const [what, makeToken, message] of refusals) {
      it(`${what} with 401 UNAUTHENTICATED`, async () => {
        const token = await makeToken();
        const answer = await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token });
        expectRefusal(answer, 401, "UNAUTHENTICATED", message);
        // The log has the cause and the token's hash, never the token.
        expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ method: "kubernetes", tokenHash: secretHash(token), reason: expect.any(String) });
        expect(ca.logs.raw.join("\n")).not.toContain(token);
      });
    }

    it("a denied namespace with 403 FORBIDDEN", async () => {
      const token = await k8s.mintToken({ namespace: "kube-system", serviceAccount: "default" });
      expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 403, "FORBIDDEN", /namespace kube-system/);
    });

    it("counts refusals by method and result", async () => {
      expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="kubernetes",result="unauthenticated"}')).toBeGreaterThanOrEqual(12);
      expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="kubernetes",result="forbidden"}')).toBe(1);
    });
  });

  it("refetches the JWKS for a new kid after key rotation, at most once per cooldown", async () => {
    afterCooldown(); // past the cooldown of the fetches above
    const before = k8s.hits.get("/openid/v1/jwks") ?? 0;
    const rotated = k8s.rotateKey();
    const token = await k8s.mintToken({ key: rotated, serviceAccount: "rotated" });
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/shop/sa/rotated", ca.bundlePem);
    expect(k8s.hits.get("/openid/v1/jwks")).toBe(before + 1);

    // A flood of made-up kids within the cooldown costs no fetch.
    for (let i = 0; i < 3; i++) {
      const bogus = await k8s.mintToken({ key: createSigningKey("RS256") });
      expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: bogus }), 401, "UNAUTHENTICATED");
    }
    expect(k8s.hits.get("/openid/v1/jwks")).toBe(before + 1);

    afterCooldown();
    const bogus = await k8s.mintToken({ key: createSigningKey("RS256") });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: bogus }), 401, "UNAUTHENTICATED");
    expect(k8s.hits.get("/openid/v1/jwks")).toBe(before + 2);
  });
});

describe("Kubernetes tokens against a JWKS file", () => {
  it("re-reads the file when it changes", async () => {
    const fileDir = await tempDir("ca-jwks-file-");
    try {
      await initCaDir(fileDir.path);
      const jwksFile = join(fileDir.path, "jwks.json");
      await writeFile(jwksFile, JSON.stringify(k8s.jwks));
      const server = await startTestServer(
        configFor(fileDir.path, `attestation:\n  kubernetes:\n    mode: jwks\n    jwks:\n      file: jwks.json\n`),
      );
      try {
        const rotated = k8s.rotateKey();
        const token = await k8s.mintToken({ key: rotated });
        expectRefusal(await requestSvid(server.server, (await makeCsr()).csrPem, { bearer: token }), 401, "UNAUTHENTICATED", /unknown kid/);
        await writeFile(jwksFile, JSON.stringify(k8s.jwks, null, 1));
        await expectIssued(await requestSvid(server.server, (await makeCsr()).csrPem, { bearer: token }), ORDERS, server.bundlePem);
      } finally {
        await server.stop();
      }
    } finally {
      await fileDir.cleanup();
    }
  });
});

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString("utf8")) as Record<string, unknown>;
}
