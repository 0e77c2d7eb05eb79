/**
 * The API's handling of requests, whatever the credential: CSR refusals
 * (foreign URI SAN, bad signature, RSA-1024), garbage and oversized bodies,
 * media types, routing, lifetimes, the per-identity rate limit, the bundle
 * endpoints and the metrics. Join tokens are the credential here because
 * they are the simplest to make.
 */
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { updateTokenStore } from "../../ca/tokens/store.js";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { call, configFor, expectIssued, expectRefusal, initCaDir, makeCsr, metricsText, metricValue, requestSvid, startTestServer, tempDir, toPem, type TestCaServer } from "./support.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: TestCaServer;
let counter = 0;

/** A fresh join token (100 uses) for a fresh ID, so tests do not share rate-limit buckets. */
async function credential(path = `vm/test-${++counter}`): Promise<{ token: string; id: string }> {
  const made = generateJoinToken();
  const id = `spiffe://example.org/${path}`;
  await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
    records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse(id), createdAt: new Date(), expiresAt: new Date(Date.now() + 3600_000), usesLeft: 100, revoked: false });
  });
  return { token: made.token, id };
}

beforeAll(async () => {
  dir = await tempDir("ca-api-");
  await initCaDir(dir.path);
  ca = await startTestServer(
    configFor(
      dir.path,
      `attestation:
  joinTokens:
    storeFile: tokens.json
svid:
  defaultTtl: 1h
  maxTtl: 2h
limits:
  maxBodyBytes: 4096
  ratePerIdentity: 1
  rateBurst: 3
`,
    ),
  );
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

describe("POST /v1/svid", () => {
  it("pre-initialises every method and result of mesh_ca_svid_requests_total at 0", async () => {
    const text = await metricsText(ca.server);
    for (const method of ["kubernetes", "join_token", "renewal"]) {
      for (const result of ["issued", "unauthenticated", "forbidden", "invalid_csr", "rate_limited", "error"]) {
        expect(text).toContain(`mesh_ca_svid_requests_total{method="${method}",result="${result}"} 0`);
      }
    }
    expect(text).toMatch(/^mesh_ca_signing_cert_expiry_timestamp_seconds \d+/m);
    expect(text).toMatch(/^mesh_ca_root_expiry_timestamp_seconds \d+/m);
    expect(text).toContain("mesh_ca_svid_sign_duration_seconds_count 0");
  });

  it("honours ttl up to svid.maxTtl and shortens longer requests to it", async () => {
    const { token, id } = await credential();
    const short = await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token, ttl: "30m" }), id, ca.bundlePem);
    expect(new Date(short.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    expect(new Date(short.expiresAt).getTime() - Date.now()).toBeGreaterThan(25 * 60_000);
    const long = await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token, ttl: "72h" }), id, ca.bundlePem);
    expect(new Date(long.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(2 * 3600_000);
    expect(await metricValue(ca.server, "mesh_ca_svid_sign_duration_seconds_count")).toBe(2);
  });

  it("accepts the PEM CSR as application/pkcs10 (for curl --data-binary @csr.pem)", async () => {
    const { token, id } = await credential();
    const answer = await call(ca.server, { bearer: token, body: (await makeCsr()).csrPem, headers: { "content-type": "application/pkcs10" }, path: "/v1/svid?ttl=10m" });
    const body = await expectIssued(answer, id, ca.bundlePem);
    expect(new Date(body.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(10 * 60_000);
  });

  it("refuses a CSR asking for a foreign URI SAN with 403 FORBIDDEN", async () => {
    const { token } = await credential();
    const { csrPem } = await makeCsr({ uris: ["spiffe://example.org/ns/kube-system/sa/admin"] });
    expectRefusal(await requestSvid(ca.server, csrPem, { bearer: token }), 403, "FORBIDDEN", /URI SAN other than/);
    const two = await makeCsr({ uris: ["spiffe://example.org/vm/a", "spiffe://example.org/vm/b"] });
    expectRefusal(await requestSvid(ca.server, two.csrPem, { bearer: token }), 403, "FORBIDDEN");
  });

  it("refuses a CSR with a bad signature with 400 INVALID_CSR", async () => {
    const { token } = await credential();
    const { der } = await makeCsr();
    const at = der.indexOf(Buffer.from("workload"));
    der[at] = 0x57; // "Workload": the signed bytes change, the signature does not
    expectRefusal(await requestSvid(ca.server, toPem(der, "CERTIFICATE REQUEST"), { bearer: token }), 400, "INVALID_CSR", /proof of possession/);
  });

  it("refuses an RSA-1024 CSR with 400 INVALID_CSR", async () => {
    const { token } = await credential();
    const { csrPem } = await makeCsr({ rsaBits: 1024 });
    expectRefusal(await requestSvid(ca.server, csrPem, { bearer: token }), 400, "INVALID_CSR", /at least 2048 bits/);
  });

  it("issues for an RSA-2048 CSR", async () => {
    const { token, id } = await credential();
    await expectIssued(await requestSvid(ca.server, (await makeCsr({ rsaBits: 2048 })).csrPem, { bearer: token }), id, ca.bundlePem);
  });

  it("refuses garbage bodies with 400 INVALID_REQUEST or INVALID_CSR", async () => {
    // Each case with its own identity: the rate limit comes before the body is judged.
    const send = async (body: string): Promise<Awaited<ReturnType<typeof call>>> =>
      call(ca.server, { bearer: (await credential()).token, body, headers: { "content-type": "application/json" } });
    expectRefusal(await send("{not json"), 400, "INVALID_REQUEST", /not JSON/);
    expectRefusal(await send("[]"), 400, "INVALID_REQUEST", /JSON object/);
    expectRefusal(await send('{"cert": "x"}'), 400, "INVALID_REQUEST", /"csr"/);
    expectRefusal(await send(JSON.stringify({ csr: "hello" })), 400, "INVALID_CSR", /one PEM block/);
    expectRefusal(await send(JSON.stringify({ csr: toPem(Buffer.from("garbage garbage garbage"), "CERTIFICATE REQUEST") })), 400, "INVALID_CSR", /not a valid DER/);
    const { csrPem } = await makeCsr();
    expectRefusal(await send(JSON.stringify({ csr: csrPem, ttl: "soon" })), 400, "INVALID_REQUEST", /ttl must be a duration/);
    expectRefusal(await send(JSON.stringify({ csr: csrPem, ttl: "1s" })), 400, "INVALID_REQUEST", /at least 10s/);
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="join_token",result="invalid_csr"}')).toBeGreaterThanOrEqual(7);
  });

  it("refuses an oversized body with 413 BODY_TOO_LARGE", async () => {
    const { token } = await credential();
    const big = JSON.stringify({ csr: "A".repeat(10_000) });
    expectRefusal(await call(ca.server, { bearer: token, body: big, headers: { "content-type": "application/json" } }), 413, "BODY_TOO_LARGE");
  });

  it("refuses other media types with 415", async () => {
    const { token } = await credential();
    expectRefusal(await call(ca.server, { bearer: token, body: "csr=x", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses a request without credential, or with a malformed Authorization header, with 401", async () => {
    const { csrPem } = await makeCsr();
    expectRefusal(await requestSvid(ca.server, csrPem), 401, "UNAUTHENTICATED", /no credential/);
    expectRefusal(await requestSvid(ca.server, csrPem, { headers: { authorization: "Basic dXNlcjpwYXNz" } }), 401, "UNAUTHENTICATED", /Bearer/);
    expectRefusal(await requestSvid(ca.server, csrPem, { bearer: "eyJhbGciOiJSUzI1NiJ9.e30.x" }), 401, "UNAUTHENTICATED", /not accepted by this CA/);
  });

  it("rate-limits per identity with 429 RATE_LIMITED and Retry-After, leaving other identities alone", async () => {
    const { token } = await credential("vm/busy");
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    const limited = answers[3];
    if (!limited) throw new Error("missing answer");
    expectRefusal(limited, 429, "RATE_LIMITED", /retry after \d+ s/);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60); // one request per minute refills
    const other = await credential("vm/quiet");
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: other.token }), other.id, ca.bundlePem);
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="join_token",result="rate_limited"}')).toBe(1);
  });

  it("logs no token and no CSR", async () => {
    const text = ca.logs.raw.join("\n");
    expect(text).not.toMatch(/meshjt_[A-Za-z0-9_-]{43}/);
    // A CSR's PEM would appear JSON-escaped: the header line followed by "\n" and base64.
    expect(text).not.toMatch(/CERTIFICATE REQUEST-----\\n[A-Za-z0-9+/]/);
    expect(text).not.toMatch(/MII[A-Za-z0-9+/]{60}/);
  });
});

describe("the other endpoints", () => {
  it("GET /v1/bundle returns the roots as PEM and /v1/bundle.json as SPIFFE bundle JSON", async () => {
    const pem = await call(ca.server, { method: "GET", path: "/v1/bundle" });
    expect(pem.status).toBe(200);
    expect(pem.headers["content-type"]).toBe("application/x-pem-file");
    expect(pem.text).toBe(ca.bundlePem);
    const json = await call(ca.server, { method: "GET", path: "/v1/bundle.json" });
    expect(json.status).toBe(200);
    const bundle = TrustBundle.fromSpiffeJson(TrustDomain.parse("example.org"), json.text);
    expect(bundle.pem).toBe(ca.bundlePem);
    expect((json.json as { keys: { use: string; kid?: string }[] }).keys.every((k) => k.use === "x509-svid" && k.kid === undefined)).toBe(true);
  });

  it("answers 404 NOT_FOUND and 405 METHOD_NOT_ALLOWED with Allow in the error shape", async () => {
    expectRefusal(await call(ca.server, { method: "GET", path: "/v2/things" }), 404, "NOT_FOUND", /POST \/v1\/svid/);
    const wrong = await call(ca.server, { method: "GET", path: "/v1/svid" });
    expectRefusal(wrong, 405, "METHOD_NOT_ALLOWED");
    expect(wrong.headers.allow).toBe("POST");
    expect((await call(ca.server, { method: "DELETE", path: "/v1/bundle" })).headers.allow).toBe("GET, HEAD");
  });

  it("serves its API with a certificate for localhost, 127.0.0.1 and spiffe://<td>/mesh-ca that chains to the bundle", async () => {
    const cert = new X509Certificate(ca.server.servingCertificatePem());
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.subjectAltName).toContain("URI:spiffe://example.org/mesh-ca");
    expect(cert.verify(new X509Certificate(ca.bundlePem).publicKey)).toBe(true);
  });

  it("reports ready on /readyz and alive on /healthz", async () => {
    expect((await fetch(`${ca.server.adminUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${ca.server.adminUrl}/healthz`)).status).toBe(200);
  });
});
