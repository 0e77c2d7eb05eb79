/**
 * haproxy as the app behind an inbound listener with `proxyProtocol: v2`: a
 * frontend whose bind line says `accept-proxy` takes the sidecar's header
 * (TLVs included; haproxy checks every TLV length against the header's) and
 * uses the addresses in it as the connection's own. It answers with the
 * source and destination it parsed and logs them, and both are the mesh
 * client's address and port and the listener's. The same haproxy refuses a
 * listener without the key: it gets HTTP where it demands a PROXY header.
 */
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, type ManagedProcess, ProcessGroup, waitFor } from "../helpers/processes.js";
import { CaDir, CaServer, policyYaml, requireBuilt, Sidecar, type SvidFiles, workloadId } from "../e2e/support/mesh.js";
import { HAPROXY_PREAMBLE, startHaproxy } from "./support/haproxy.js";

const FRONTEND = workloadId("frontend");

describe("haproxy (bind ... accept-proxy) as the app of a proxyProtocol: v2 listener", () => {
  const group = new ProcessGroup();
  let work: string;
  let haproxy: ManagedProcess;
  let client: SvidFiles;
  let withHeader: string;
  let withoutHeader: string;

  beforeAll(async () => {
    requireBuilt();
    work = mkdtempSync(join(tmpdir(), "mesh-interop-pp2-"));
    const [caApi, caAdmin, appPort, ppPort, plainPort, admin] = (await freePorts(6)) as [number, number, number, number, number, number];
    const ca = await CaDir.init(join(work, "ca"));
    const caServer = new CaServer(group, { ca, listen: `127.0.0.1:${caApi}`, admin: `127.0.0.1:${caAdmin}` });
    await caServer.start();
    client = await ca.issue(FRONTEND, join(work, "frontend"));
    haproxy = await startHaproxy(
      group,
      join(work, "haproxy.cfg"),
      `${HAPROXY_PREAMBLE}
frontend app
  bind 127.0.0.1:${appPort} accept-proxy
  log-format "proxy-v2 source=%ci:%cp destination=%fi:%fp"
  http-request return status 200 content-type text/plain lf-string "source=%[src]:%[src_port] destination=%[dst]:%[dst_port]"
`,
      [appPort],
    );
    withHeader = `127.0.0.1:${ppPort}`;
    withoutHeader = `127.0.0.1:${plainPort}`;
    const sidecar = new Sidecar(group, {
      name: "orders-sidecar",
      dir: join(work, "orders"),
      caUrl: caServer.apiUrl,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(workloadId("orders")),
      inbound: [
        { name: "orders", listen: withHeader, forward: `127.0.0.1:${appPort}`, proxyProtocol: "v2" },
        { name: "orders-plain", listen: withoutHeader, forward: `127.0.0.1:${appPort}` },
      ],
      policy: policyYaml({ orders: { allow: [FRONTEND] }, "orders-plain": { allow: [FRONTEND] } }),
      admin: `127.0.0.1:${admin}`,
    });
    await sidecar.start();
  });

  afterAll(async () => {
    await group.stopAll();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** GET / over mTLS to `hostPort`; what came back and the client's own address. */
  function get(hostPort: string): Promise<{ answer: string; local: string }> {
    const [host, port] = hostPort.split(":") as [string, string];
    return new Promise((resolve, reject) => {
      let answer = "";
      let local = "";
      const s = tlsConnect({
        host,
        port: Number(port),
        ca: readFileSync(client.bundleFile),
        cert: readFileSync(client.certFile),
        key: readFileSync(client.keyFile),
        checkServerIdentity: () => undefined,
      });
      s.on("secureConnect", () => {
        local = `${s.localAddress}:${s.localPort}`;
        s.write("GET / HTTP/1.0\r\nHost: orders\r\n\r\n");
      });
      s.on("data", (d: Buffer) => (answer += d.toString("utf8")));
      s.on("error", (err: Error & { code?: string }) => (err.code === "ECONNRESET" ? undefined : reject(err)));
      s.on("close", () => resolve({ answer, local }));
    });
  }

  it("accepts the header and takes the client's address and the listener's from it", async () => {
    const { answer, local } = await get(withHeader);
    expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
    expect(answer.split("\r\n\r\n")[1]).toBe(`source=${local} destination=${withHeader}`);
    const line = await waitFor("haproxy's log line", () => haproxy.lines.map((l) => l.text).find((t) => t.includes(`proxy-v2 source=${local}`)));
    expect(line).toContain(`proxy-v2 source=${local} destination=${withHeader}`);
  });

  it("refuses a listener without proxyProtocol: its first bytes are the client's, not a header", async () => {
    const { answer } = await get(withoutHeader);
    expect(answer).toBe("");
    await waitFor("haproxy's refusal in its log", () => haproxy.output.includes("Received something which does not look like a PROXY protocol header"));
  });
});
