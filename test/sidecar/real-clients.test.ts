/**
 * curl and `openssl s_client` as inbound clients with SVIDs from the test CA:
 * an allowed identity gets the app's answer, a denied one and a
 * certificate-less one get nothing, and nothing reaches the app.
 *
 * About curl: the sidecar's SVID carries only a URI SAN (its SPIFFE ID), no
 * DNS name, and curl cannot check a URI SAN. `-k` turns off curl's host name
 * check but also its chain check, so these tests add `--pinnedpubkey` with
 * the sidecar's public key: curl then refuses any server but this one, which
 * keeps the allowed case meaningful. The sidecar's own check of curl's client
 * certificate is what is under test, and `-k` does not touch it.
 * openssl s_client verifies the chain against the bundle and, by default,
 * checks no host name, so it runs with `-verify_return_error` and no `-k`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { ID, metricValue, startTestSidecar, type TestSidecar, waitFor } from "./harness.js";

let ca: FakeCa;
let app: Server;
let appRequests = 0;
let sc: TestSidecar;
let dir: string;
let pin: string;

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}

async function writeIdentity(name: string, id: string): Promise<void> {
  const svid = await ca.issue(id);
  await writeFile(join(dir, `${name}.crt`), svid.chainPem);
  await writeFile(join(dir, `${name}.leaf.crt`), svid.certPem);
  await writeFile(join(dir, `${name}.chain.crt`), svid.chainPem.slice(svid.certPem.length));
  await writeFile(join(dir, `${name}.key`), svid.keyPem);
}

/** `sha256//<base64>` of the sidecar's public key, as curl's --pinnedpubkey wants it. */
function sidecarKeyPin(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, checkServerIdentity: () => undefined }, () => {
      const spki = s.getPeerX509Certificate()?.publicKey.export({ type: "spki", format: "der" }) as Buffer;
      resolve(`sha256//${createHash("sha256").update(spki).digest("base64")}`);
      s.destroy();
    });
    s.on("error", reject);
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
  dir = await mkdtemp(join(tmpdir(), "sidecar-clients-"));
  await writeFile(join(dir, "bundle.pem"), ca.bundlePem);
  await writeIdentity("frontend", ID.frontend);
  await writeIdentity("stranger", ID.stranger);
  pin = await sidecarKeyPin(sc.port("http"));
});

afterAll(async () => {
  await sc?.stop();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await ca?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function curl(identity: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  const url = `https://127.0.0.1:${sc.port("http")}/`;
  const auth = identity ? ["--cert", join(dir, `${identity}.crt`), "--key", join(dir, `${identity}.key`)] : [];
  return run("curl", ["-sS", "--max-time", "10", ...auth, "--cacert", join(dir, "bundle.pem"), "-k", "--pinnedpubkey", pin, url]);
}

function sClient(identity: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  const auth = identity
    ? ["-cert", join(dir, `${identity}.leaf.crt`), "-cert_chain", join(dir, `${identity}.chain.crt`), "-key", join(dir, `${identity}.key`)]
    : [];
  return run(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${sc.port("http")}`, ...auth, "-CAfile", join(dir, "bundle.pem"), "-verify_return_error", "-brief", "-ign_eof"],
    "GET / HTTP/1.0\r\n\r\n",
  );
}

describe("curl as a client", () => {
  it("gets the app's answer with an allowed SVID", async () => {
    const before = appRequests;
    const res = await curl("frontend");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("hello from the app\n");
    expect(appRequests).toBe(before + 1);
  });

  it("refuses to talk to a server whose key is not the sidecar's (the pin is checked)", async () => {
    const url = `https://127.0.0.1:${sc.port("http")}/`;
    const res = await run("curl", ["-sS", "--cert", join(dir, "frontend.crt"), "--key", join(dir, "frontend.key"), "-k", "--pinnedpubkey", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", url]);
    expect(res.code).toBe(90); // CURLE_SSL_PINNEDPUBKEYNOTMATCH
  });

  it("gets nothing with a denied SVID, and nothing reaches the app", async () => {
    const before = appRequests;
    const res = await curl("stranger");
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe("");
    expect(appRequests).toBe(before);
  });

  it("gets nothing without a client certificate", async () => {
    const before = appRequests;
    const res = await curl(undefined);
    expect(res.code).not.toBe(0);
    expect(appRequests).toBe(before);
  });
});

describe("openssl s_client as a client", () => {
  it("verifies the sidecar's chain and gets the app's answer with an allowed SVID", async () => {
    const before = appRequests;
    const res = await sClient("frontend");
    expect(res.stderr).toContain("Verification: OK");
    expect(res.stderr).toContain("Protocol version: TLSv1.3");
    expect(res.stdout).toContain("hello from the app");
    expect(appRequests).toBe(before + 1);
  });

  it("gets nothing with a denied SVID, and nothing reaches the app", async () => {
    const before = appRequests;
    const denied = await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "wrong_peer" });
    const res = await sClient("stranger");
    expect(res.stdout).not.toContain("hello from the app");
    expect(appRequests).toBe(before);
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "wrong_peer" })).toBe(denied + 1);
  });

  it("gets nothing without a client certificate", async () => {
    const before = appRequests;
    const res = await sClient(undefined);
    expect(res.stdout).not.toContain("hello from the app");
    expect(appRequests).toBe(before);
  });
});
