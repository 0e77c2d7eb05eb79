/**
 * curl as a client of an inbound listener, with SVIDs from `mesh-ca issue`.
 * Allowed: the orders app answers. Refused, each before the app sees a
 * single connection: an identity the policy does not list, no client
 * certificate, and a certificate for an allowed ID from another CA.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../helpers/processes.js";
import { CaDir, workloadId, type SvidFiles } from "../e2e/support/mesh.js";
import { FRONTEND_ID, startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { requireTool } from "./support/tools.js";

describe("curl as a client of an inbound listener", () => {
  let mesh: TwoPods;
  let curl: string;
  let svids: { allowed: SvidFiles; denied: SvidFiles; foreign: SvidFiles };

  beforeAll(async () => {
    curl = requireTool("curl", "curl");
    mesh = await startTwoPods();
    const otherCa = await CaDir.init(join(mesh.work, "other-ca"));
    svids = {
      allowed: await mesh.ca.issue(FRONTEND_ID, join(mesh.work, "curl-frontend")),
      denied: await mesh.ca.issue(workloadId("outsider"), join(mesh.work, "curl-outsider")),
      foreign: await otherCa.issue(FRONTEND_ID, join(mesh.work, "curl-foreign")),
    };
  });

  afterAll(async () => {
    await mesh?.close();
  });

  const url = (path: string): string => `https://${mesh.ordersInbound}${path}`;

  it("gets the orders app's answer with an allowed SVID", async () => {
    const r = await run({ command: curl, args: ["-sS", "-k", "--cert", svids.allowed.certFile, "--key", svids.allowed.keyFile, url("/curl")] });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ service: "orders", path: "/curl" });
  });

  it("cannot check the server by name with --cacert alone: an SVID carries only a spiffe:// URI (why npm start prints -k)", async () => {
    // No client certificate: curl checks the name only after the handshake, so with an allowed
    // SVID the sidecar would already have opened an app connection, racing the next test's count.
    const r = await run({ command: curl, args: ["-sS", "--cacert", svids.allowed.bundleFile, url("/name-check")] });
    expect(r.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    expect(r.stderr).toMatch(/common name|subject name|SAN/i);
    expect(mesh.backend.requests.some((x) => x.path === "/name-check")).toBe(false);
  });

  it.each([
    ["an identity the policy does not list", "denied"],
    ["no client certificate", "none"],
    ["a certificate for an allowed ID from another CA", "foreign"],
  ] as const)("is refused with %s, and the app sees no connection", async (_what, which) => {
    const before = mesh.backend.connections;
    const certArgs = which === "none" ? [] : ["--cert", svids[which].certFile, "--key", svids[which].keyFile];
    const r = await run({ command: curl, args: ["-sS", "-k", "-m", "10", ...certArgs, url(`/refused-${which}`)] });
    expect(r.code, r.output).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(mesh.backend.connections, mesh.backend.connectionLog.join("\n")).toBe(before);
  });
});
