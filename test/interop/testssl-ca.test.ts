/**
 * testssl (Debian's testssl.sh) against the mesh-ca API, the endpoint every
 * workload depends on: TLS 1.3 only, AEAD suites only, and only the
 * elliptic-curve groups of `tls.groups` (X25519, P-256): no finite-field
 * (FFDHE) group, which before `tls.groups` it offered, all five of them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, ProcessGroup } from "../helpers/processes.js";
import { CaDir, CaServer, requireBuilt } from "../e2e/support/mesh.js";
import { groupsFound, runTestssl, type Finding } from "./support/testssl.js";

describe("testssl against the mesh-ca API", () => {
  const group = new ProcessGroup();
  let work: string;
  let findings: Finding[];
  const byId = (id: string): Finding | undefined => findings.find((f) => f.id === id);

  beforeAll(async () => {
    requireBuilt();
    work = mkdtempSync(join(tmpdir(), "testssl-ca-"));
    const [api, admin] = await freePorts(2);
    const server = new CaServer(group, { ca: await CaDir.init(join(work, "ca")), listen: `127.0.0.1:${api}`, admin: `127.0.0.1:${admin}` });
    await server.start();
    // -p protocols, -f forward secrecy (the groups), -E every suite per protocol.
    findings = await runTestssl(server.options.listen, ["-p", "-f", "-E"], work);
  }, 300_000);

  afterAll(async () => {
    await group.stopAll();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("reports TLS 1.3 alone offered", () => {
    for (const id of ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"]) expect(byId(id)?.finding, id).toMatch(/^not offered/);
    expect(byId("TLS1_3")?.finding).toMatch(/^offered/);
  });

  it("finds no finite-field (FFDHE) group, only the elliptic curves of tls.groups (X25519, P-256)", () => {
    expect(groupsFound(findings)).toEqual({ ellipticCurves: ["X25519", "prime256v1"], finiteField: [] });
    expect(findings.filter((f) => /ffdhe|finite field/i.test(`${f.id} ${f.finding}`))).toEqual([]);
  });

  it("sees only the TLS 1.3 AEAD suites, and no DHE suite", () => {
    const suites = findings.filter((f) => f.id.startsWith("cipher-"));
    expect(suites.length).toBeGreaterThan(0);
    for (const s of suites) {
      expect(s.id).toMatch(/^cipher-tls1_3_/);
      expect(s.finding).toMatch(/TLS_AES_128_GCM_SHA256|TLS_AES_256_GCM_SHA384|TLS_CHACHA20_POLY1305_SHA256/);
      expect(s.finding).not.toMatch(/DHE/);
    }
  });
});
