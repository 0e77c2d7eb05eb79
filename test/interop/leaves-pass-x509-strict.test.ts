/**
 * Every leaf certificate in the local mesh (`npm start`'s real code): the
 * client SVIDs in .mesh-local/clients/, the SVIDs both sidecars serve, and
 * mesh-ca's own serving certificate, passes `openssl verify -x509_strict`
 * against the mesh's bundle, the SVIDs for both TLS client and server use.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type PeerCertificate } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessGroup, run } from "../helpers/processes.js";
import { splitHostPort } from "../e2e/support/clients.js";
import { startLocalMesh, type LocalMesh } from "../e2e/support/local-mesh.js";
import { pemBlocks } from "./support/pem.js";
import { requireTool } from "./support/tools.js";

/** The chain a TLS server presents, leaf first, as PEM blocks. */
function servedChain(hostPort: string, client?: { cert: string; key: string }): Promise<string[]> {
  const [host, port] = splitHostPort(hostPort);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ...(client ?? {}) }, () => {
      const chain: string[] = [];
      let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert?.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        chain.push(`-----BEGIN CERTIFICATE-----\n${cert.raw.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`);
        cert = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
    socket.on("error", reject);
  });
}

describe("every leaf in the local mesh passes openssl verify -x509_strict", () => {
  const group = new ProcessGroup();
  let mesh: LocalMesh;
  let openssl: string;
  const leaves: { name: string; file: string; chainFile: string; purposes: string[] }[] = [];

  beforeAll(async () => {
    openssl = requireTool("openssl", "openssl");
    mesh = await startLocalMesh(group);
    const json = JSON.parse(readFileSync(mesh.ready.meshJson, "utf8")) as { ca: { api: string }; services: Record<string, { inbound: Record<string, string> }> };
    const client = { cert: readFileSync(join(mesh.stateDir, "clients/frontend.crt"), "utf8"), key: readFileSync(join(mesh.stateDir, "clients/frontend.key"), "utf8") };
    const add = (name: string, blocks: string[], purposes: string[]): void => {
      const file = join(mesh.stateDir, `${name}.leaf.pem`);
      const chainFile = join(mesh.stateDir, `${name}.chain.pem`);
      writeFileSync(file, blocks[0] ?? "");
      writeFileSync(chainFile, blocks.slice(1).join("") || "\n");
      leaves.push({ name, file, chainFile, purposes });
    };
    for (const name of ["frontend", "outsider"]) add(`client ${name}`, pemBlocks(readFileSync(join(mesh.stateDir, `clients/${name}.crt`), "utf8")), ["sslclient", "sslserver"]);
    for (const [service, s] of Object.entries(json.services)) {
      for (const [listener, address] of Object.entries(s.inbound)) add(`${service} sidecar (${listener})`, await servedChain(address, client), ["sslclient", "sslserver"]);
    }
    add("mesh-ca API", await servedChain(json.ca.api), ["sslserver"]);
  }, 120_000);

  afterAll(async () => {
    await group.stopAll();
    if (mesh) rmSync(mesh.stateDir, { recursive: true, force: true });
  });

  it("found the leaves: two client SVIDs, one SVID per sidecar, the CA's serving certificate", () => {
    expect(leaves.map((l) => l.name)).toEqual(["client frontend", "client outsider", "frontend sidecar (frontend)", "orders sidecar (orders)", "mesh-ca API"]);
  });

  it("verifies each leaf strictly for each of its uses", async () => {
    const bundle = join(mesh.stateDir, "ca", "bundle.pem");
    for (const leaf of leaves) {
      for (const purpose of leaf.purposes) {
        const untrusted = readFileSync(leaf.chainFile, "utf8").trim() ? ["-untrusted", leaf.chainFile] : [];
        const r = await run({ command: openssl, args: ["verify", "-x509_strict", "-purpose", purpose, "-CAfile", bundle, ...untrusted, leaf.file] });
        expect(`${leaf.name} ${purpose}: ${r.output.trim()}`).toBe(`${leaf.name} ${purpose}: ${leaf.file}: OK`);
      }
    }
  });
});
