/**
 * testssl (Debian's testssl.sh) against an inbound listener configured with
 * the most permissive setting the sidecar has, `tls.minVersion: TLSv1.2`.
 * From its JSON output: no SSLv2/3, TLS 1.0 or 1.1; no NULL, export, RC4,
 * 3DES or CBC suite (every suite offered is AEAD); no DHE suite and no
 * finite-field group, only the elliptic curves of `tls.groups`; nothing
 * reported VULNERABLE. testssl cannot present a client certificate, but
 * protocols, suites and groups are settled before the sidecar asks for one.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { groupsFound, runTestssl, type Finding } from "./support/testssl.js";

describe("testssl against an inbound listener (tls.minVersion TLSv1.2)", () => {
  let mesh: TwoPods;
  let findings: Finding[];
  const byId = (id: string): Finding | undefined => findings.find((f) => f.id === id);

  beforeAll(async () => {
    mesh = await startTwoPods({ sidecar: { tls: { minVersion: "TLSv1.2" } } });
    // -p protocols, -s cipher categories, -f forward secrecy (the groups), -E every suite per protocol, -U vulnerabilities: what we assert, nothing more.
    findings = await runTestssl(mesh.ordersInbound, ["-p", "-s", "-f", "-E", "-U"], mesh.work);
  }, 300_000);

  afterAll(async () => {
    await mesh?.close();
  });

  it.each(["SSLv2", "SSLv3", "TLS1", "TLS1_1"])("reports %s not offered", (id) => {
    expect(byId(id)?.finding).toMatch(/^not offered/);
  });

  it("reports TLS 1.2 and TLS 1.3 offered", () => {
    expect(byId("TLS1_2")?.finding).toMatch(/^offered/);
    expect(byId("TLS1_3")?.finding).toMatch(/^offered/);
  });

  it.each(["cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"])("reports no suite of %s (AVERAGE: the CBC suites)", (id) => {
    expect(byId(id)?.finding).toMatch(/^not offered/);
  });

  it("sees only AEAD suites (GCM, ChaCha20-Poly1305, CCM): no CBC, RC4 or 3DES", () => {
    const suites = findings.filter((f) => f.id.startsWith("cipher-tls"));
    expect(suites.length).toBeGreaterThan(0);
    for (const s of suites) {
      expect(s.finding).toMatch(/GCM|CHACHA20|CCM/);
      expect(s.finding).not.toMatch(/CBC|RC4|DES|NULL|EXP/);
    }
  });

  it("finds no finite-field (FFDHE) group, only the elliptic curves of tls.groups (X25519, P-256)", () => {
    expect(groupsFound(findings)).toEqual({ ellipticCurves: ["X25519", "prime256v1"], finiteField: [] });
    expect(findings.filter((f) => /ffdhe|finite field/i.test(`${f.id} ${f.finding}`))).toEqual([]);
  });

  it("sees no DHE suite under TLS 1.2: every TLS 1.2 suite is ECDHE", () => {
    const tls12 = findings.filter((f) => f.id.startsWith("cipher-tls1_2"));
    expect(tls12.length).toBeGreaterThan(0);
    for (const s of tls12) {
      expect(s.finding).toMatch(/\bECDHE-/);
      expect(s.finding).not.toMatch(/(^|[\s_-])DHE[-_]|\bDH \d/);
    }
  });

  it("reports nothing vulnerable", () => {
    const bad = findings.filter((f) => /VULNERABLE/.test(f.finding) || ["LOW", "MEDIUM", "HIGH", "CRITICAL"].includes(f.severity));
    expect(bad).toEqual([]);
    // WARN only where testssl says a client certificate kept it from testing.
    const warnings = findings.filter((f) => f.severity === "WARN");
    for (const w of warnings) expect(w.finding).toContain("client x509-based authentication");
  });
});
