/**
 * `openssl s_client` as a client of an inbound listener, checking the
 * sidecar's chain against the bundle (-verify_return_error). Under TLS 1.3
 * the client finishes its handshake before the sidecar has judged the client
 * certificate, so each refusal is asserted where it matters: nothing reaches
 * the orders app.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../helpers/processes.js";
import { workloadId, type SvidFiles } from "../e2e/support/mesh.js";
import { FRONTEND_ID, startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { requireTool } from "./support/tools.js";

describe("openssl s_client as a client of an inbound listener", () => {
  let mesh: TwoPods;
  let openssl: string;
  let svids: { allowed: SvidFiles; denied: SvidFiles };

  beforeAll(async () => {
    openssl = requireTool("openssl", "openssl");
    mesh = await startTwoPods();
    svids = {
      allowed: await mesh.ca.issue(FRONTEND_ID, join(mesh.work, "s_client-frontend")),
      denied: await mesh.ca.issue(workloadId("outsider"), join(mesh.work, "s_client-outsider")),
    };
  });

  afterAll(async () => {
    await mesh?.close();
  });

  const sClient = (path: string, extra: string[]) =>
    run({
      command: openssl,
      args: ["s_client", "-quiet", "-verify_return_error", "-CAfile", svids.allowed.bundleFile, "-connect", mesh.ordersInbound, ...extra],
      stdin: `GET ${path} HTTP/1.0\r\n\r\n`,
    }, 20_000);

  it("verifies the sidecar's chain and gets the orders app's answer with an allowed SVID", async () => {
    const r = await sClient("/s_client", ["-cert", svids.allowed.certFile, "-key", svids.allowed.keyFile]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/m);
    expect(r.stdout).toContain('{"service":"orders","path":"/s_client"}');
  });

  it.each([
    ["an identity the policy does not list", ["-cert", "DENIED_CERT", "-key", "DENIED_KEY"]],
    ["no client certificate", []],
    ["TLS 1.2, which the listener does not offer by default", ["-tls1_2", "-cert", "ALLOWED_CERT", "-key", "ALLOWED_KEY"]],
  ])("is refused with %s: no HTTP answer, and the app sees no connection", async (_what, template) => {
    const args = template.map((a) =>
      a === "DENIED_CERT" ? svids.denied.certFile : a === "DENIED_KEY" ? svids.denied.keyFile : a === "ALLOWED_CERT" ? svids.allowed.certFile : a === "ALLOWED_KEY" ? svids.allowed.keyFile : a,
    );
    const before = mesh.backend.connections;
    const r = await sClient("/refused", args);
    expect(r.stdout).not.toMatch(/HTTP\/1\.1/);
    expect(mesh.backend.connections, mesh.backend.connectionLog.join("\n")).toBe(before);
  });
});
