import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haproxyConfig, haproxyOutboundConfig, uriGeneralNameHex, type HaproxyConfigOptions } from "../../../bench/targets/haproxy-config.js";
import { TestCa } from "../../helpers/test-ca.js";

const ALLOWED = "spiffe://example.org/ns/bench/sa/client";
const HAPROXY = existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy";

const OPTIONS: HaproxyConfigOptions = {
  listen: "127.0.0.1:18443",
  backend: "127.0.0.1:18080",
  certFile: "/tmp/server.pem",
  bundleFile: "/tmp/bundle.pem",
  allowedId: ALLOWED,
  noTlsTickets: false,
  maxConnections: 8000,
};

function haproxyCheck(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(HAPROXY, ["-c", "-f", file], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

describe("the URI SAN pattern haproxy matches", () => {
  it("is the DER of a uniformResourceIdentifier GeneralName: tag 0x86, length, bytes", () => {
    expect(uriGeneralNameHex("spiffe://a/b")).toBe("860C" + Buffer.from("spiffe://a/b").toString("hex").toUpperCase());
  });

  it("uses the long length form past 127 bytes", () => {
    const id = `spiffe://example.org/${"x".repeat(200)}`;
    expect(uriGeneralNameHex(id).slice(0, 6)).toBe("8681DD");
    const longer = `spiffe://example.org/${"x".repeat(300)}`;
    expect(uriGeneralNameHex(longer).slice(0, 8)).toBe("86820141");
  });
});

describe("haproxy.cfg generation", () => {
  it("terminates mTLS on one thread with TLS 1.3, X25519 and a verified client certificate", () => {
    const cfg = haproxyConfig(OPTIONS);
    expect(cfg).toMatch(/^\s*nbthread 1$/m);
    expect(cfg).toContain(
      "bind 127.0.0.1:18443 ssl crt /tmp/server.pem ca-file /tmp/bundle.pem verify required ssl-min-ver TLSv1.3 curves X25519 " +
        "ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n",
    );
    expect(cfg).toContain(`acl peer_allowed ssl_c_der,hex -m sub ${uriGeneralNameHex(ALLOWED)}`);
    expect(cfg).toContain("tcp-request session reject unless peer_allowed");
    expect(cfg).toContain("server app 127.0.0.1:18080");
  });

  it("adds no-tls-tickets only when asked", () => {
    expect(haproxyConfig(OPTIONS)).not.toContain("no-tls-tickets");
    expect(haproxyConfig({ ...OPTIONS, noTlsTickets: true })).toMatch(/CHACHA20_POLY1305_SHA256 no-tls-tickets$/m);
  });

  it("quotes file paths with spaces", () => {
    expect(haproxyConfig({ ...OPTIONS, certFile: "/tmp/my certs/server.pem" })).toContain('crt "/tmp/my certs/server.pem"');
  });
});

describe("the generated config against real certificates", () => {
  let dir: string;
  let ca: TestCa;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bench-haproxy-"));
    ca = await TestCa.create({ trustDomain: "example.org" });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds the allowed ID in its client certificate's DER and not another ID", async () => {
    const allowed = await ca.issue(ALLOWED);
    const other = await ca.issue("spiffe://example.org/ns/bench/sa/client2");
    const hexOf = (c: { cert: { rawData: ArrayBuffer } }): string => Buffer.from(c.cert.rawData).toString("hex").toUpperCase();
    expect(hexOf(allowed)).toContain(uriGeneralNameHex(ALLOWED));
    // A longer ID that starts with the allowed one differs in the length octet.
    expect(hexOf(other)).not.toContain(uriGeneralNameHex(ALLOWED));
  });

  it("is accepted by haproxy -c", async () => {
    const server = await ca.issue("spiffe://example.org/ns/bench/sa/server");
    const certFile = join(dir, "server.pem");
    const bundleFile = join(dir, "bundle.pem");
    await writeFile(certFile, server.chainPem + server.keyPem);
    await writeFile(bundleFile, server.bundlePem);
    const file = join(dir, "haproxy.cfg");
    await writeFile(file, haproxyConfig({ ...OPTIONS, certFile, bundleFile, noTlsTickets: true }));
    const { code, output } = await haproxyCheck(file);
    expect(output).not.toMatch(/ALERT|WARNING/);
    expect(code).toBe(0);
  });

  it("accepts the outbound side of the mesh hop: plaintext in, mTLS out with the upstream verified", async () => {
    const client = await ca.issue(ALLOWED);
    const certFile = join(dir, "client.pem");
    const bundleFile = join(dir, "bundle.pem");
    await writeFile(certFile, client.chainPem + client.keyPem);
    await writeFile(bundleFile, client.bundlePem);
    const text = haproxyOutboundConfig({ listen: "127.0.0.1:18001", upstream: "127.0.0.1:18443", certFile, bundleFile, maxConnections: 8000 });
    expect(text).toMatch(/^\s+server upstream 127\.0\.0\.1:18443 ssl crt \S+ ca-file \S+ verify required ssl-min-ver TLSv1\.3 /m);
    // Session reuse towards the upstream is haproxy's default; the bench relies on it staying on.
    expect(text).not.toMatch(/no-ssl-reuse/);
    const file = join(dir, "haproxy-outbound.cfg");
    await writeFile(file, text);
    const { code, output } = await haproxyCheck(file);
    expect(output).not.toMatch(/ALERT|WARNING/);
    expect(code).toBe(0);
  });
});
