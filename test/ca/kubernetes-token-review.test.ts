/**
 * Kubernetes tokens verified by the TokenReview API (the default in a
 * cluster), against the API double: the CA authenticates with its own
 * service-account token (re-read on every call) and the cluster CA file,
 * sends our audience, checks the answer, and caches positive answers briefly.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../lib/clock.js";
import { KubernetesApiDouble, unsecuredToken } from "../fixtures/kubernetes-api.js";
import { configFor, expectIssued, expectRefusal, initCaDir, makeCsr, metricValue, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let k8s: KubernetesApiDouble;
let ca: TestCaServer;
let ownToken: string;
let cacheOffsetMs = 0;

async function writeOwnToken(): Promise<void> {
  // What the kubelet projects into the CA pod: a token for the API server's own audience.
  ownToken = await k8s.mintToken({ namespace: "mesh-system", serviceAccount: "mesh-ca", audiences: [k8s.issuer] });
  await writeFile(join(dir.path, "sa-token"), ownToken);
}

beforeAll(async () => {
  dir = await tempDir("ca-tokenreview-");
  await initCaDir(dir.path);
  k8s = await KubernetesApiDouble.start();
  await writeFile(join(dir.path, "k8s-ca.crt"), k8s.caPem);
  await writeOwnToken();
  const config = configFor(
    dir.path,
    `attestation:
  kubernetes:
    mode: tokenReview
    allowedNamespaces: [shop, web]
    tokenReview:
      apiServer: ${k8s.url}
      tokenFile: sa-token
      caFile: k8s-ca.crt
      cacheTtl: 10s
limits:
  ratePerIdentity: 1000
  rateBurst: 1000
`,
  );
  ca = await startTestServer(config, { cacheClock: { ...systemClock, now: () => Date.now() + cacheOffsetMs } });
});

afterAll(async () => {
  await ca?.stop();
  await k8s?.close();
  await dir?.cleanup();
});

beforeEach(() => {
  k8s.tokenReviewFailure = undefined;
});

describe("Kubernetes tokens by TokenReview", () => {
  it("asks the API server with the CA's own token and our audience, then issues", async () => {
    const token = await k8s.mintToken({ namespace: "web", serviceAccount: "frontend" });
    const reviewsBefore = k8s.reviews.length;
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/web/sa/frontend", ca.bundlePem);
    expect(k8s.reviews.slice(reviewsBefore)).toEqual([{ callerToken: ownToken, token, audiences: ["mesh-ca"] }]);
  });

  it("caches a positive answer by token hash for cacheTtl, then asks again", async () => {
    const token = await k8s.mintToken({ namespace: "shop", serviceAccount: "cart" });
    const before = k8s.reviews.length;
    for (let i = 0; i < 3; i++) {
      await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/shop/sa/cart", ca.bundlePem);
    }
    expect(k8s.reviews.length).toBe(before + 1);
    cacheOffsetMs += 11_000;
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/shop/sa/cart", ca.bundlePem);
    expect(k8s.reviews.length).toBe(before + 2);
  });

  it("re-reads its own token file on every call (the kubelet rotates it)", async () => {
    await writeOwnToken();
    const token = await k8s.mintToken({ serviceAccount: "rotation" });
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), "spiffe://example.org/ns/shop/sa/rotation", ca.bundlePem);
    expect(k8s.reviews.at(-1)?.callerToken).toBe(ownToken);
  });

  it("refuses a token the API server answers authenticated: false for, with 401 UNAUTHENTICATED", async () => {
    const token = await k8s.mintToken({ serviceAccount: "deleted-pod" });
    k8s.revoke(token);
    const answer = await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token });
    expectRefusal(answer, 401, "UNAUTHENTICATED", /rejected by the Kubernetes API/);
    expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ reason: "tokenreview_unauthenticated", apiError: expect.stringContaining("invalidated") });
  });

  it("refuses a header with a critical extension itself, as the JWKS mode does, without asking the API server", async () => {
    const before = k8s.reviews.length;
    const token = await k8s.mintToken({ header: { crit: ["exp-hint"], "exp-hint": 60 } });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 401, "UNAUTHENTICATED", /^token header has critical extension "exp-hint" that mesh-ca does not understand/);
    expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ reason: "unknown_critical_extension" });
    expect(k8s.reviews.length).toBe(before);
  });

  it("checks the claims itself before asking: wrong iss, wrong aud and alg none never reach the API server", async () => {
    const before = k8s.reviews.length;
    const wrongIss = await k8s.mintToken({ claims: { iss: "https://other.example" } });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: wrongIss }), 401, "UNAUTHENTICATED", /token issuer is not/);
    const wrongAud = await k8s.mintToken({ audiences: [k8s.issuer] });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: wrongAud }), 401, "UNAUTHENTICATED", /^token audience is not mesh-ca$/);
    const none = unsecuredToken(JSON.parse(Buffer.from((await k8s.mintToken()).split(".")[1] as string, "base64url").toString()) as Record<string, unknown>);
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: none }), 401, "UNAUTHENTICATED", /algorithm is not allowed/);
    expect(k8s.reviews.length).toBe(before);
  });

  it("refuses a namespace outside allowedNamespaces with 403 FORBIDDEN", async () => {
    const token = await k8s.mintToken({ namespace: "batch", serviceAccount: "job" });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 403, "FORBIDDEN", /namespace batch/);
  });

  it("answers 503 UNAVAILABLE when the API server refuses the CA's own credentials, and logs why", async () => {
    k8s.tokenReviewFailure = 403;
    const token = await k8s.mintToken({ serviceAccount: "rbac" });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 503, "UNAVAILABLE");
    expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ reason: "tokenreview_http_error", status: 403 });
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="kubernetes",result="error"}')).toBe(1);
  });
});
