import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { PeerVerifier, resultOfAuthorizationError } from "./peer-verifier.js";

const TD = TrustDomain.parse("example.org");
const ID = "spiffe://example.org/ns/web/sa/frontend";
let ca: TestCa;

beforeAll(async () => {
  ca = await TestCa.create({ trustDomain: "example.org" });
});

async function leaf(opts: Parameters<TestCa["issue"]>[1] = {}, id = ID): Promise<NodeX509Certificate> {
  return new NodeX509Certificate((await ca.issue(id, opts)).certPem);
}

describe("PeerVerifier", () => {
  it("accepts a good SVID and returns the same cached verdict for the same certificate", async () => {
    const v = new PeerVerifier({ trustDomain: TD, usage: "client" });
    const cert = await leaf();
    const first = v.verify(cert);
    expect(first).toMatchObject({ ok: true });
    expect(first.ok && first.id.toString()).toBe(ID);
    expect(v.verify(new NodeX509Certificate(cert.raw))).toBe(first);
    expect(v.size).toBe(1);
  });

  it("refuses rule-breaking leaves as invalid_svid, naming the broken rule and the claimed ID", async () => {
    const v = new PeerVerifier({ trustDomain: TD, usage: "client" });
    const cases: [Parameters<TestCa["issue"]>[1], string][] = [
      [{ isCa: true }, "SVID_CA_LEAF"],
      [{ keyCertSign: true }, "SVID_KEY_CERT_SIGN"],
      [{ uris: [ID, "spiffe://example.org/other"] }, "SVID_MULTIPLE_URI_SANS"],
      [{ uris: ["https://example.org/x"] }, "SVID_INVALID_SPIFFE_ID"],
      [{ eku: ["serverAuth"] }, "SVID_EKU"],
    ];
    for (const [opts, code] of cases) {
      const verdict = v.verify(await leaf(opts));
      expect(verdict).toMatchObject({ ok: false, result: "invalid_svid" });
      expect(!verdict.ok && verdict.reason).toContain(code);
    }
    const wrongTd = v.verify(await leaf({}, "spiffe://evil.org/ns/web/sa/frontend"));
    expect(wrongTd).toMatchObject({ ok: false, result: "invalid_svid", claimed: "spiffe://evil.org/ns/web/sa/frontend" });
    expect(!wrongTd.ok && wrongTd.reason).toContain("SVID_WRONG_TRUST_DOMAIN");
  });

  it("checks the EKU for the role: serverAuth-only is fine for an upstream, not for a client", async () => {
    const cert = await leaf({ eku: ["serverAuth"] });
    expect(new PeerVerifier({ trustDomain: TD, usage: "server" }).verify(cert).ok).toBe(true);
    expect(new PeerVerifier({ trustDomain: TD, usage: "client" }).verify(cert).ok).toBe(false);
  });

  it("re-judges a cached certificate once the clock passes its notAfter, and does not cache the expiry", async () => {
    let now = Date.now();
    const v = new PeerVerifier({ trustDomain: TD, usage: "client", now: () => now });
    const cert = await leaf({ lifetimeMs: 120_000 });
    expect(v.verify(cert).ok).toBe(true);
    now += 3_600_000;
    expect(v.verify(cert)).toMatchObject({ ok: false, result: "expired" });
    expect(v.size).toBe(0);
  });

  it("keeps at most maxEntries verdicts, dropping the oldest", async () => {
    const v = new PeerVerifier({ trustDomain: TD, usage: "client", maxEntries: 2 });
    const [a, b, c] = [await leaf(), await leaf(), await leaf()];
    const va = v.verify(a);
    v.verify(b);
    v.verify(c);
    expect(v.size).toBe(2);
    expect(v.verify(a)).not.toBe(va); // a was evicted and judged again
  });
});

describe("resultOfAuthorizationError", () => {
  it("maps OpenSSL verify errors to handshake results", () => {
    expect(resultOfAuthorizationError("CERT_HAS_EXPIRED")).toBe("expired");
    expect(resultOfAuthorizationError("CERT_NOT_YET_VALID")).toBe("expired");
    expect(resultOfAuthorizationError("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).toBe("untrusted");
    expect(resultOfAuthorizationError("SELF_SIGNED_CERT_IN_CHAIN")).toBe("untrusted");
    expect(resultOfAuthorizationError("INVALID_PURPOSE")).toBe("invalid_svid");
    expect(resultOfAuthorizationError(undefined)).toBe("untrusted");
  });
});

describe("refusal reasons", () => {
  it("names the URI SANs a refused leaf claimed, for the log line, and nothing when it has none", async () => {
    const v = new PeerVerifier({ trustDomain: TD, usage: "client" });
    const twoUris = v.verify(await leaf({ uris: [ID, "https://x.example"], dnsNames: ["a.example"] }));
    expect(twoUris).toMatchObject({ ok: false, result: "invalid_svid", claimed: `${ID}, https://x.example` });
    const noUri = v.verify(await leaf({ uris: [], dnsNames: ["a.example"], subject: "CN=a" }));
    expect(noUri).toMatchObject({ ok: false, claimed: undefined });
  });

  it("accepts the tls.PeerCertificate shape the listeners pass", async () => {
    const cert = await leaf({});
    const v = new PeerVerifier({ trustDomain: TD, usage: "client" });
    expect(v.verify({ raw: cert.raw, fingerprint256: cert.fingerprint256 })).toMatchObject({ ok: true });
  });
});
