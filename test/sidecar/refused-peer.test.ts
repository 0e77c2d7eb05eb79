/**
 * What docs/sidecar.md "When a peer is refused" says, checked against a
 * real sidecar: a peer the policy denies completes the TLS handshake (under
 * TLS 1.3 the client's part ends before the server has judged its
 * certificate) and then sees the connection closed without a TLS alert, so
 * curl says "Empty reply from server" or "Connection reset by peer" and
 * `openssl s_client` "unexpected eof while reading" or "CONNECTION CLOSED BY SERVER". The refusal is found
 * in the sidecar's log line and its two counters.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { ID, logsWith, metricValue, startTestSidecar, type TestSidecar, waitFor } from "./harness.js";

let ca: FakeCa;
let app: Server;
let appRequests = 0;
let sc: TestSidecar;
let dir: string;

function run(cmd: string, args: string[], input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

beforeAll(async () => {
  ca = await FakeCa.create();
  app = createServer((_req, res) => {
    appRequests++;
    res.end("hello from the app\n");
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: `127.0.0.1:${(app.address() as AddressInfo).port}` }] });
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  dir = await mkdtemp(join(tmpdir(), "sidecar-refused-"));
  const stranger = await ca.issue(ID.stranger);
  await writeFile(join(dir, "bundle.pem"), ca.bundlePem);
  await writeFile(join(dir, "stranger.crt"), stranger.chainPem);
  await writeFile(join(dir, "stranger.key"), stranger.keyPem);
});

afterAll(async () => {
  await sc?.stop();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await ca?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const denials = (): Promise<number> => metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision: "deny", rule: "default" });
const wrongPeer = (): Promise<number> =>
  metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "wrong_peer" });

describe("a peer the policy denies", () => {
  it("sees curl's empty reply or reset, and nothing reaches the app", async () => {
    const before = appRequests;
    const url = `https://127.0.0.1:${sc.port("http")}/`;
    const res = await run("curl", ["-sS", "--max-time", "10", "-k", "--cert", join(dir, "stranger.crt"), "--key", join(dir, "stranger.key"), url]);
    // Which of the two depends on whether the request reached the sidecar's socket before it closed.
    expect([
      { code: 52, stderr: "curl: (52) Empty reply from server\n" },
      { code: 56, stderr: "curl: (56) Recv failure: Connection reset by peer\n" },
    ]).toContainEqual({ code: res.code, stderr: res.stderr });
    expect(res.stdout).toBe("");
    expect(appRequests).toBe(before);
  });

  it("sees openssl s_client's handshake complete, then an end of stream without any TLS alert", async () => {
    const res = await run(
      "openssl",
      ["s_client", "-brief", "-ign_eof", "-verify_return_error", "-CAfile", join(dir, "bundle.pem"), "-cert", join(dir, "stranger.crt"), "-key", join(dir, "stranger.key"), "-connect", `127.0.0.1:${sc.port("http")}`],
      "GET / HTTP/1.0\r\n\r\n",
    );
    expect(res.code).not.toBe(0); // 1, or the errno of a reset
    expect(res.stderr).toContain("CONNECTION ESTABLISHED");
    expect(res.stderr).toContain("Verification: OK");
    // An end of stream without close_notify, or (when the request was still unread in the sidecar's socket) a reset.
    expect(res.stderr).toMatch(/error:0A000126:SSL routines:ssl3_read_n:unexpected eof while reading|CONNECTION CLOSED BY SERVER/);
    // An alert would read "ssl/tls alert access denied" (or another alert name): there is none.
    expect(res.stderr).not.toMatch(/alert/i);
    expect(res.stdout).not.toContain("hello from the app");
  });

  it("is one info log line 'refused connection' with the peer, listener, result, reason and rule, and counted twice", async () => {
    const [deniedBefore, wrongBefore] = [await denials(), await wrongPeer()];
    const linesBefore = logsWith(sc.logs, "refused connection").length;
    await run("curl", ["-sS", "--max-time", "10", "-k", "--cert", join(dir, "stranger.crt"), "--key", join(dir, "stranger.key"), `https://127.0.0.1:${sc.port("http")}/`]);
    await waitFor("the refusal to be logged", () => logsWith(sc.logs, "refused connection").length === linesBefore + 1);
    expect(logsWith(sc.logs, "refused connection").at(-1)).toEqual({
      level: 30,
      time: expect.any(String),
      pid: process.pid,
      name: "mesh-sidecar",
      listener: "http",
      direction: "inbound",
      result: "wrong_peer",
      reason: "the policy denies this peer",
      peer: ID.stranger,
      rule: "default",
      resumed: false,
      remote: "127.0.0.1",
      msg: "refused connection",
    });
    expect(await denials()).toBe(deniedBefore + 1);
    expect(await wrongPeer()).toBe(wrongBefore + 1);
  });
});
