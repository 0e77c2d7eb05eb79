/** The sidecar's mesh-ca client against the CA double: answers, refusals and failures map to stable codes. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaClient } from "../../sidecar/credentials/ca-client.js";
import { SidecarError } from "../../sidecar/errors.js";
import { WorkloadKey } from "../../sidecar/credentials/workload-key.js";
import type { TlsGroup } from "../../lib/tls/groups.js";
import { TestCa } from "../helpers/test-ca.js";
import { FakeCa } from "./fake-ca.js";
import { ID } from "./harness.js";

let ca: FakeCa;
let key: WorkloadKey;
let csr: string;

beforeAll(async () => {
  ca = await FakeCa.create({ tokens: { good: ID.self } });
  key = await WorkloadKey.generate();
  csr = await key.csrPem();
});
afterAll(async () => {
  await ca?.stop();
});

function client(roots = ca.bundlePem, url = ca.url, groups?: readonly TlsGroup[]): CaClient {
  return new CaClient({ url: new URL(url), trustedRoots: () => roots, timeoutMs: 5_000, ...(groups ? { groups } : {}) });
}

async function failure(p: Promise<unknown>): Promise<SidecarError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SidecarError) return err;
    throw err;
  }
  throw new Error("expected a SidecarError");
}

describe("CaClient", () => {
  it("posts the CSR with the bearer token and the ttl as a duration, and returns the answer", async () => {
    const answer = await client().requestSvid(csr, { kind: "bearer", token: "good" }, 90_000);
    expect(answer.spiffeId).toBe(ID.self);
    expect(answer.certChain).toContain("BEGIN CERTIFICATE");
    expect(ca.svidRequests.at(-1)).toMatchObject({ auth: "bearer", token: "good", ttl: "1m30s", status: 200 });
  });

  it("maps an HTTP error to CA_REFUSED with the status and the CA's error code", async () => {
    const err = await failure(client().requestSvid(csr, { kind: "bearer", token: "wrong" }));
    expect(err).toMatchObject({ code: "SIDECAR_CA_REFUSED", details: { status: 401, caCode: "UNAUTHENTICATED" } });
    expect(err.message).toContain("no valid credential");
  });

  it("passes Retry-After on 429 along", async () => {
    ca.queue.push("rate-limited");
    const err = await failure(client().requestSvid(csr, { kind: "bearer", token: "good" }));
    expect(err.details).toMatchObject({ status: 429, retryAfterMs: 0 });
  });

  it("reports a 200 that is not the documented shape as CA_BAD_RESPONSE", async () => {
    ca.queue.push("garbage");
    expect((await failure(client().requestSvid(csr, { kind: "bearer", token: "good" }))).code).toBe("SIDECAR_CA_BAD_RESPONSE");
  });

  it("refuses a CA whose certificate does not chain to the bootstrap bundle", async () => {
    const other = await TestCa.create({ trustDomain: "example.org" });
    const seen = ca.requests.length;
    const err = await failure(client(other.bundlePem).requestSvid(csr, { kind: "bearer", token: "good" }));
    expect(err.code).toBe("SIDECAR_CA_UNREACHABLE");
    expect(err.message).toContain("does not chain to ca.bundleFile");
    // The token never left: TLS failed before any HTTP request.
    expect(ca.requests.length).toBe(seen);
  });

  it.each(["ffdhe2048", "ffdhe8192"])("refuses a CA that only does %s key exchange, before any request is sent", async (group) => {
    const ffdhe = await FakeCa.create({ tokens: { good: ID.self }, ecdhCurve: group });
    try {
      const err = await failure(client(ffdhe.bundlePem, ffdhe.url).requestSvid(csr, { kind: "bearer", token: "good" }));
      expect(err.code).toBe("SIDECAR_CA_UNREACHABLE");
      expect(err.message).toMatch(/alert handshake failure/);
      expect(ffdhe.requests).toEqual([]);
    } finally {
      await ffdhe.stop();
    }
  });

  it("offers exactly the groups it is given (tls.groups), X25519 and P-256 by default", async () => {
    const p384 = await FakeCa.create({ ecdhCurve: "P-384" });
    try {
      expect((await failure(client(p384.bundlePem, p384.url).fetchBundleJson())).message).toMatch(/alert handshake failure/);
      expect((JSON.parse(await client(p384.bundlePem, p384.url, ["P-384"]).fetchBundleJson()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    } finally {
      await p384.stop();
    }
  });

  it("reports a CA that is down as CA_UNREACHABLE", async () => {
    const down = await FakeCa.create({ start: false });
    const err = await failure(client(down.bundlePem, down.url).requestSvid(csr, { kind: "bearer", token: "good" }));
    expect(err.code).toBe("SIDECAR_CA_UNREACHABLE");
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("fetches the bundle as SPIFFE JSON, with the CA's sequence and refresh hint", async () => {
    ca.bundleSequence = 4;
    ca.refreshHintSeconds = 30;
    const json = JSON.parse(await client().fetchBundleJson()) as { keys: { x5c: string[] }[]; spiffe_sequence: number; spiffe_refresh_hint: number };
    expect(json.spiffe_sequence).toBe(4);
    expect(json.spiffe_refresh_hint).toBe(30);
    expect(json.keys.map((k) => k.x5c[0])).toEqual([Buffer.from(ca.root.cert.rawData).toString("base64")]);
  });
});
