/**
 * mesh-ca's own TLS clients (the TokenReview API and the JWKS URL) offer
 * only the config's `tls.groups`, X25519 and P-256 by default: against an
 * API server that only does finite-field key exchange the handshake fails
 * before any request (the API answers 503 UNAVAILABLE), and an API server
 * that only does P-384 is reached once `tls.groups` names it.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesApiDouble } from "../fixtures/kubernetes-api.js";
import { configFor, expectIssued, expectRefusal, initCaDir, makeCsr, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";

type Mode = "tokenReview" | "jwks";

let dir: Awaited<ReturnType<typeof tempDir>>;
const started: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await tempDir("ca-tls-groups-");
  await initCaDir(dir.path);
});

afterAll(async () => {
  for (const s of started.reverse()) await s.stop();
  await dir?.cleanup();
});

/** An API double with `ecdhCurve`, and a CA in `mode` pointed at it with `groups` (the default when absent). */
async function setUp(mode: Mode, ecdhCurve: string, groups?: string): Promise<{ k8s: KubernetesApiDouble; ca: TestCaServer }> {
  const k8s = await KubernetesApiDouble.start({ ecdhCurve });
  started.push({ stop: () => k8s.close() });
  const name = `${mode}-${ecdhCurve}-${groups ?? "default"}`;
  await writeFile(join(dir.path, `${name}.ca.crt`), k8s.caPem);
  await writeFile(join(dir.path, `${name}.token`), await k8s.mintToken({ namespace: "mesh-system", serviceAccount: "mesh-ca", audiences: [k8s.issuer] }));
  const source =
    mode === "tokenReview"
      ? `    tokenReview:\n      apiServer: ${k8s.url}\n      tokenFile: ${name}.token\n      caFile: ${name}.ca.crt\n`
      : `    jwks:\n      url: ${k8s.url}/openid/v1/jwks\n      caFile: ${name}.ca.crt\n`;
  const config = configFor(dir.path, `attestation:\n  kubernetes:\n    mode: ${mode}\n${source}${groups ? `tls:\n  groups: [${groups}]\n` : ""}`);
  const ca = await startTestServer(config);
  started.push(ca);
  return { k8s, ca };
}

const requestsSeen = (k8s: KubernetesApiDouble): number => k8s.reviews.length + (k8s.hits.get("/openid/v1/jwks") ?? 0);
const UNREACHABLE: Record<Mode, string> = { tokenReview: "tokenreview_unreachable", jwks: "jwks_unavailable" };

describe.each<Mode>(["tokenReview", "jwks"])("mesh-ca's %s client", (mode) => {
  it.each(["ffdhe2048", "ffdhe8192"])("cannot complete a handshake with an API server that only does %s: 503, and the server saw no request", async (group) => {
    const { k8s, ca } = await setUp(mode, group);
    const token = await k8s.mintToken({ namespace: "shop", serviceAccount: "orders" });
    const answer = await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token });
    expectRefusal(answer, 503, "UNAVAILABLE");
    expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ reason: UNREACHABLE[mode] });
    expect(requestsSeen(k8s)).toBe(0);
  });

  it("offers X25519 and P-256 by default, and P-384 when tls.groups names it", async () => {
    const refused = await setUp(mode, "P-384");
    const token = await refused.k8s.mintToken({ namespace: "shop", serviceAccount: "orders" });
    expectRefusal(await requestSvid(refused.ca.server, (await makeCsr()).csrPem, { bearer: token }), 503, "UNAVAILABLE");
    expect(requestsSeen(refused.k8s)).toBe(0);

    const reached = await setUp(mode, "P-384", "P-384");
    const good = await reached.k8s.mintToken({ namespace: "shop", serviceAccount: "orders" });
    await expectIssued(await requestSvid(reached.ca.server, (await makeCsr()).csrPem, { bearer: good }), "spiffe://example.org/ns/shop/sa/orders", reached.ca.bundlePem);
    expect(requestsSeen(reached.k8s)).toBe(1);
  });
});
