/**
 * haproxy as the upstream of an outbound listener: it terminates mutual TLS
 * with an SVID from `mesh-ca issue` and requires (and verifies) the
 * sidecar's client SVID. An outbound listener that expects haproxy's SPIFFE
 * ID carries the app's requests through; one that expects another ID
 * refuses haproxy's certificate, and nothing reaches the app behind it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, ProcessGroup } from "../helpers/processes.js";
import { startBackend, type Backend } from "../e2e/support/backends.js";
import { plainGet } from "../e2e/support/clients.js";
import { CaDir, CaServer, requireBuilt, Sidecar, workloadId } from "../e2e/support/mesh.js";
import { metricSum } from "../e2e/support/metrics.js";
import { HAPROXY_PREAMBLE, startHaproxy } from "./support/haproxy.js";
import { writeCombinedPem } from "./support/pem.js";

const HAPROXY_ID = workloadId("haproxy");

describe("haproxy as the mTLS upstream of an outbound listener", () => {
  const group = new ProcessGroup();
  let work: string;
  let backend: Backend;
  let sidecar: Sidecar;
  let toHaproxy: string;
  let toImpostor: string;

  beforeAll(async () => {
    requireBuilt();
    work = mkdtempSync(join(tmpdir(), "mesh-interop-"));
    backend = await startBackend("behind-haproxy");
    const [caApi, caAdmin, haproxyPort, out1, out2, admin] = await freePorts(6);
    const ca = await CaDir.init(join(work, "ca"));
    const caServer = new CaServer(group, { ca, listen: `127.0.0.1:${caApi}`, admin: `127.0.0.1:${caAdmin}` });
    await caServer.start();
    const pem = writeCombinedPem(await ca.issue(HAPROXY_ID, join(work, "haproxy")), join(work, "haproxy.pem"));
    await startHaproxy(
      group,
      join(work, "haproxy.cfg"),
      `${HAPROXY_PREAMBLE}
frontend mesh_in
  bind 127.0.0.1:${haproxyPort} ssl crt ${pem} ca-file ${ca.bundleFile} verify required ssl-min-ver TLSv1.3
  http-request set-header X-Client-Verified %[ssl_c_verify]
  default_backend app

backend app
  server app ${backend.hostPort}
`,
      [haproxyPort as number],
    );
    toHaproxy = `127.0.0.1:${out1}`;
    toImpostor = `127.0.0.1:${out2}`;
    sidecar = new Sidecar(group, {
      name: "frontend-sidecar",
      dir: join(work, "frontend"),
      caUrl: caServer.apiUrl,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(workloadId("frontend")),
      outbound: [
        { name: "haproxy", listen: toHaproxy, upstream: `127.0.0.1:${haproxyPort}`, expectedPeer: HAPROXY_ID },
        { name: "orders", listen: toImpostor, upstream: `127.0.0.1:${haproxyPort}`, expectedPeer: workloadId("orders") },
      ],
      admin: `127.0.0.1:${admin}`,
    });
    await sidecar.start();
  });

  afterAll(async () => {
    await group.stopAll();
    await backend?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("carries the app's request to haproxy, which verified the sidecar's client SVID", async () => {
    const answer = await plainGet(toHaproxy, { path: "/through-haproxy" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ service: "behind-haproxy", path: "/through-haproxy" });
    const seen = backend.requests.find((r) => r.path === "/through-haproxy");
    expect(seen?.headers["x-client-verified"]).toBe("0"); // haproxy: 0 = client certificate verified
  });

  it("refuses an upstream whose SPIFFE ID is not the expected one, and nothing reaches the app", async () => {
    await expect(plainGet(toImpostor, { path: "/impostor" })).rejects.toThrow();
    expect(backend.requests.some((r) => r.path === "/impostor")).toBe(false);
    const metrics = await sidecar.metrics();
    expect(metricSum(metrics, "mesh_sidecar_tls_handshakes_total", { listener: "orders", direction: "outbound", result: "wrong_peer" })).toBeGreaterThan(0);
  });
});
