/**
 * Finite-field key exchange (D(HE)at, CVE-2002-20001) against real
 * mesh-ca and mesh-sidecar processes. Before `tls.groups`, Node on OpenSSL
 * 3.0 accepted ffdhe2048..ffdhe8192, and one replayed ffdhe8192 ClientHello
 * cost a sidecar about 145 ms of CPU and mesh-ca about 136 ms (measured on
 * the base build with 20 replays each). Now every endpoint offers
 * elliptic-curve groups only:
 * - clients offering only ffdhe2048 or ffdhe8192 (Node and openssl
 *   s_client) are refused by the sidecar inbound, counted as
 *   `protocol_error`, and by the mesh-ca API; X25519 and P-256 clients
 *   still connect;
 * - replays of a canned ffdhe8192 ClientHello are answered with an alert
 *   and cost the server process (utime+stime from /proc) next to nothing:
 *   a coarse bound, a test of refusal, not of speed;
 * - an outbound sidecar refuses an upstream that only does ffdhe, and
 *   connects once that upstream offers X25519.
 */
import { join } from "node:path";
import { request as httpsRequest } from "node:https";
import { createServer as createTlsServer, connect as tlsConnect, type Server as TlsServer, type TLSSocket } from "node:tls";
import { connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCpuTime } from "../../bench/machine/proc.js";
import { run, waitFor } from "../helpers/processes.js";
import { Sidecar, type SvidFiles } from "../e2e/support/mesh.js";
import { metricSum } from "../e2e/support/metrics.js";
import { BILLING_ID, FRONTEND_ID, ORDERS_ID, startTwoPods, type TwoPods } from "../e2e/support/two-pods.js";
import { ffdhe8192ClientHello, offeredGroups, replayClientHello } from "./support/client-hello.js";
import { requireTool } from "./support/tools.js";

const FFDHE8192 = 0x0104; // RFC 8446 §4.2.7
const REPLAYS = 20;
/** Well under one replay's cost before the fix (about 140 ms), well over what 20 refusals cost (a few ms). */
const REPLAY_CPU_BOUND_MS = 100;

const HANDSHAKES = "mesh_sidecar_tls_handshakes_total";
/** How OpenSSL's server side names a ClientHello without a group it accepts. */
const NO_COMMON_GROUP = /^ERR_SSL_NO_(SHARED_GROUPS|SUITABLE_KEY_SHARE)$/;

interface Attempt {
  /** The handshake completed. */
  connected: boolean;
  /** The group the key exchange used, as Node names it (X25519, prime256v1). */
  group?: string | undefined;
  /** What came back after the handshake (the app's answer). */
  answer: string;
  error?: string | undefined;
}

/** The key-exchange group of a client connection, as Node names it. */
function groupOf(socket: TLSSocket): string | undefined {
  const info = socket.getEphemeralKeyInfo();
  return info !== null && "name" in info ? info.name : undefined;
}

/** One TLS connection with Node's client offering only `ecdhCurve`; sends an HTTP request once connected. */
function connectWith(hostPort: string, ecdhCurve: string, tls: { ca: string; key?: string; cert?: string }): Promise<Attempt> {
  const [host, port] = hostPort.split(":") as [string, string];
  return new Promise((resolve) => {
    const out: Attempt = { connected: false, answer: "" };
    const socket: TLSSocket = tlsConnect({ host, port: Number(port), ecdhCurve, ...tls, checkServerIdentity: () => undefined });
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on("secureConnect", () => {
      out.connected = true;
      out.group = groupOf(socket);
      socket.write("GET /groups HTTP/1.0\r\nHost: test\r\n\r\n");
    });
    socket.on("data", (d: Buffer) => (out.answer += d.toString("utf8")));
    socket.on("error", (err: NodeJS.ErrnoException) => (out.error = err.code ?? err.message));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** GET /v1/bundle from mesh-ca with Node's https client offering only `ecdhCurve`. */
function caGet(apiUrl: string, ecdhCurve: string, ca: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = httpsRequest(new URL("/v1/bundle", apiUrl), { ca, ecdhCurve, agent: false, timeout: 10_000 }, (res) => {
      const group = groupOf(res.socket as TLSSocket);
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ connected: true, group, answer: `${res.statusCode} ${body}` }));
    });
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ connected: false, answer: "", error: `${err.code}: ${err.message}` }));
    req.end();
  });
}

describe("finite-field key exchange is refused by every TLS endpoint (D(HE)at)", () => {
  let mesh: TwoPods;
  let openssl: string;
  let frontendSvid: SvidFiles;
  let tlsAs: { ca: string; key: string; cert: string };
  let caBundle: string;

  const inboundMetric = async (result: string): Promise<number> =>
    metricSum(await mesh.orders.metrics(), HANDSHAKES, { listener: "orders", direction: "inbound", result });

  beforeAll(async () => {
    openssl = requireTool("openssl", "openssl");
    mesh = await startTwoPods();
    frontendSvid = await mesh.ca.issue(FRONTEND_ID, join(mesh.work, "ffdhe-frontend"));
    tlsAs = { ca: readFileSync(frontendSvid.bundleFile, "utf8"), key: readFileSync(frontendSvid.keyFile, "utf8"), cert: readFileSync(frontendSvid.certFile, "utf8") };
    caBundle = readFileSync(mesh.ca.bundleFile, "utf8");
  });

  afterAll(async () => {
    await mesh?.close();
  });

  describe.each(["ffdhe2048", "ffdhe8192"])("a Node client offering only %s", (group) => {
    it("is refused by the sidecar inbound, counted as protocol_error, and logged once", async () => {
      const before = await inboundMetric("protocol_error");
      const connections = mesh.backend.connections;
      const logged = mesh.orders.proc?.jsonLines().length ?? 0;
      const r = await connectWith(mesh.ordersInbound, group, tlsAs);
      expect(r).toMatchObject({ connected: false, answer: "", error: expect.stringMatching(/ALERT_HANDSHAKE_FAILURE$/) });
      await waitFor("the refusal to be counted", async () => (await inboundMetric("protocol_error")) === before + 1);
      expect(mesh.backend.connections).toBe(connections);
      const lines = (mesh.orders.proc?.jsonLines() ?? []).slice(logged).filter((l) => l.msg === "refused connection: TLS handshake failed");
      expect(lines).toHaveLength(1);
      // OpenSSL names it after the client's offer: no group in common, or no key share it could use.
      expect(lines[0]).toMatchObject({ result: "protocol_error", reason: expect.stringMatching(NO_COMMON_GROUP) });
    });

    it("is refused by the mesh-ca API", async () => {
      const r = await caGet(mesh.caServer.apiUrl, group, caBundle);
      expect(r).toMatchObject({ connected: false, error: expect.stringMatching(/alert handshake failure/) });
    });
  });

  describe.each([
    ["X25519", "X25519"],
    ["P-256", "prime256v1"],
  ])("a Node client offering only %s", (group, nodeName) => {
    it("connects through the sidecar inbound to the app", async () => {
      const before = await inboundMetric("ok");
      const r = await connectWith(mesh.ordersInbound, group, tlsAs);
      expect(r, r.error).toMatchObject({ connected: true, group: nodeName });
      expect(r.answer).toMatch(/^HTTP\/1\.1 200/);
      expect(await inboundMetric("ok")).toBe(before + 1);
    });

    it("gets the bundle from the mesh-ca API", async () => {
      const r = await caGet(mesh.caServer.apiUrl, group, caBundle);
      expect(r, r.error).toMatchObject({ connected: true, group: nodeName, answer: `200 ${caBundle}` });
    });
  });

  describe("openssl s_client -groups", () => {
    const sClient = (hostPort: string, groups: string, extra: string[] = []) =>
      run({ command: openssl, args: ["s_client", "-groups", groups, "-CAfile", frontendSvid.bundleFile, "-connect", hostPort, ...extra], stdin: "" }, 20_000);
    const endpoints = (): [string, string][] => [
      ["the sidecar inbound", mesh.ordersInbound],
      ["the mesh-ca API", mesh.caServer.options.listen],
    ];

    it.each(["ffdhe2048", "ffdhe8192"])("%s: both endpoints answer with a handshake_failure alert, never a DH key", async (group) => {
      for (const [name, hostPort] of endpoints()) {
        const r = await run({ command: openssl, args: ["s_client", "-groups", group, "-connect", hostPort], stdin: "" }, 20_000);
        expect(r.code, `${name}\n${r.output}`).not.toBe(0);
        expect(r.output, name).toMatch(/alert handshake failure/);
        expect(r.output, name).not.toMatch(/Server Temp Key: DH/);
      }
    });

    it.each([
      ["X25519", "Server Temp Key: X25519, 253 bits"],
      ["P-256", "Server Temp Key: ECDH, prime256v1, 256 bits"],
    ])("%s: both endpoints complete the handshake with it", async (group, tempKey) => {
      for (const [name, hostPort] of endpoints()) {
        const r = await sClient(hostPort, group, ["-cert", frontendSvid.certFile, "-key", frontendSvid.keyFile]);
        expect(r.output, name).toContain(tempKey);
        expect(r.output, name).toContain("Verify return code: 0 (ok)");
      }
    });
  });

  describe("a replayed ffdhe8192 ClientHello", () => {
    const hello = ffdhe8192ClientHello();

    it("is the canned one: a ClientHello record offering ffdhe8192 alone, with its 1024-byte key share", () => {
      expect([hello[0], hello[5]]).toEqual([22, 1]);
      expect(hello.length).toBe(5 + hello.readUInt16BE(3));
      expect(offeredGroups(hello)).toEqual({ supported: [FFDHE8192], keyShares: [{ group: FFDHE8192, bytes: 1024 }] });
    });

    it.each(["the sidecar inbound", "the mesh-ca API"])(`costs %s next to no CPU: ${REPLAYS} replays, each answered with an alert`, async (name) => {
      const target = name === "the sidecar inbound" ? { pid: mesh.orders.proc?.pid, hostPort: mesh.ordersInbound } : { pid: mesh.caServer.proc?.pid, hostPort: mesh.caServer.options.listen };
      const pid = target.pid as number;
      const before = readCpuTime(pid).total;
      const answers: string[] = [];
      for (let i = 0; i < REPLAYS; i++) answers.push(await replayClientHello(target.hostPort, hello));
      const spentMs = (readCpuTime(pid).total - before) * 1000;
      expect(answers).toEqual(Array(REPLAYS).fill("alert"));
      expect(spentMs, `${name} spent ${spentMs} ms of CPU on ${REPLAYS} replays`).toBeLessThan(REPLAY_CPU_BOUND_MS);
    });
  });

  describe("an outbound sidecar whose upstream does only ffdhe2048", () => {
    let upstream: TlsServer;
    let upstreamTls: { key: string; cert: string; ca: string };
    let billing: Sidecar;
    let billingToOrders: string;
    const handshakes = { ok: 0, failed: [] as string[] };
    const accepted = new Set<Socket>();

    beforeAll(async () => {
      const svid = await mesh.ca.issue(ORDERS_ID, join(mesh.work, "ffdhe-upstream"));
      upstreamTls = { key: readFileSync(svid.keyFile, "utf8"), cert: readFileSync(svid.certFile, "utf8"), ca: readFileSync(svid.bundleFile, "utf8") };
      upstream = createTlsServer({ ...upstreamTls, ecdhCurve: "ffdhe2048", requestCert: true, rejectUnauthorized: false }, (socket) => {
        handshakes.ok++;
        socket.on("error", () => {});
        socket.end("HTTP/1.0 200 OK\r\n\r\nfrom the upstream");
      });
      upstream.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        handshakes.failed.push(err.code ?? err.message);
        socket.destroy(); // with a listener, Node leaves the socket open
      });
      upstream.on("connection", (socket: Socket) => {
        accepted.add(socket);
        socket.once("close", () => accepted.delete(socket));
      });
      await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
      const [out, admin] = [await mesh.spare(), await mesh.spare()];
      billingToOrders = `127.0.0.1:${out}`;
      billing = new Sidecar(mesh.group, {
        name: "billing-ffdhe",
        dir: join(mesh.work, "billing-ffdhe"),
        caUrl: mesh.caServer.apiUrl,
        bundleFile: mesh.ca.bundleFile,
        joinToken: await mesh.ca.joinToken(BILLING_ID),
        outbound: [{ name: "orders", listen: billingToOrders, upstream: `127.0.0.1:${(upstream.address() as AddressInfo).port}`, expectedPeer: ORDERS_ID }],
        admin: `127.0.0.1:${admin}`,
      });
      await billing.start();
    });

    afterAll(async () => {
      await billing?.proc?.stop();
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    });

    const throughOutbound = (): Promise<string> =>
      new Promise((resolve) => {
        const [host, port] = billingToOrders.split(":") as [string, string];
        let got = "";
        const s = netConnect(Number(port), host, () => s.write("GET / HTTP/1.0\r\n\r\n"));
        s.on("data", (d: Buffer) => (got += d.toString("utf8")));
        s.on("error", () => {});
        s.on("close", () => resolve(got));
      });
    const outboundMetric = async (result: string): Promise<number> =>
      metricSum(await billing.metrics(), HANDSHAKES, { listener: "orders", direction: "outbound", result });

    it("refuses it (protocol_error) and the app gets nothing; once the upstream offers X25519 it connects", async () => {
      const before = await outboundMetric("protocol_error");
      expect(await throughOutbound()).toBe("");
      await waitFor("the refusal to be counted", async () => (await outboundMetric("protocol_error")) === before + 1);
      expect(handshakes).toEqual({ ok: 0, failed: [expect.stringMatching(NO_COMMON_GROUP)] });

      upstream.setSecureContext({ ...upstreamTls, ecdhCurve: "X25519" });
      expect(await throughOutbound()).toContain("from the upstream");
      expect(handshakes.ok).toBe(1);
      expect(await outboundMetric("ok")).toBe(1);
    });
  });
});
