/**
 * inbound[].proxyProtocol: v2, over real TLS on loopback. The app's first
 * bytes are a PROXY v2 header, read with a parser nobody here wrote
 * (test/helpers/proxy-v2.ts): the peer's address and port, the listener's,
 * the SSL TLV (client bits, verify, version and cipher as the client saw
 * them, CERT_CONN only on a full handshake), and the peer's SPIFFE ID in TLV
 * 0xE0; then the peer's bytes, byte for byte. A listener without the key
 * sends no header; a refused peer sends the app nothing at all; a client
 * that itself sends a PROXY header fails the TLS handshake like any garbage.
 */
import { randomBytes } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Command, IPv4Address, IPv4ProxyAddress, TransportProtocol, V2ProxyProtocol } from "proxy-protocol-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readProxyV2, subText } from "../helpers/proxy-v2.js";
import { FakeCa } from "./fake-ca.js";
import { Backend, type ClientIdentity, ID, metricValue, startTestSidecar, type TestSidecar, waitFor } from "./harness.js";

let ca: FakeCa;
let app: Backend;
/** Everything each app connection received, in order, once it ended. */
const received: Buffer[] = [];
let sc: TestSidecar;
let frontend: ClientIdentity;

beforeAll(async () => {
  ca = await FakeCa.create();
  // The app: collects everything up to the peer's end, answers with the SPIFFE ID the header named, and ends.
  app = await Backend.start((socket) => {
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      received.push(all);
      let caller = "no header";
      try {
        caller = readProxyV2(all).spiffeId ?? "no 0xE0 TLV";
      } catch {
        // not a PROXY header: the answer says so
      }
      socket.end(`caller=${caller}`);
    });
  });
  sc = await startTestSidecar({
    ca,
    inbound: [
      { name: "http", forward: app.address, proxyProtocol: "v2" },
      { name: "plain", forward: app.address },
    ],
    policy: `version: 1\nlisteners:\n  http:\n    allow: [${ID.frontend}]\n  plain:\n    allow: [${ID.frontend}]\n`,
    tlsMinVersion: "TLSv1.2",
  });
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  frontend = await ca.issue(ID.frontend);
});

afterAll(async () => {
  await sc?.stop();
  await app?.close();
  await ca?.stop();
});

/** What one mTLS call saw from the client's side, and what the app received. */
interface Call {
  answer: string;
  local: { address: string; port: number };
  protocol: string | null;
  cipher: string;
  reused: boolean;
  session: Buffer | undefined;
  atApp: Buffer | undefined;
}

/** Connects with mTLS, sends `payload`, half-closes, and waits for the app's answer and the close. */
async function call(port: number, payload: Buffer, opts: { session?: Buffer; maxVersion?: "TLSv1.2" | "TLSv1.3" } = {}): Promise<Call> {
  const before = received.length;
  const out = await new Promise<Omit<Call, "atApp">>((resolve, reject) => {
    let answer = "";
    let session: Buffer | undefined;
    const s: TLSSocket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: ca.bundlePem,
      cert: frontend.chainPem,
      key: frontend.keyPem,
      checkServerIdentity: () => undefined,
      ...(opts.session ? { session: opts.session } : {}),
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    });
    s.on("session", (t: Buffer) => (session = t));
    s.on("data", (d: Buffer) => (answer += d.toString("utf8")));
    s.on("error", reject);
    s.on("secureConnect", () => s.end(payload));
    let facts: Omit<Call, "atApp" | "answer" | "session"> | undefined;
    s.once("secureConnect", () => {
      facts = { local: { address: s.localAddress as string, port: s.localPort as number }, protocol: s.getProtocol(), cipher: s.getCipher().name, reused: s.isSessionReused() };
    });
    s.on("close", () => (facts ? resolve({ ...facts, answer, session }) : reject(new Error("closed before the handshake"))));
  });
  await waitFor("the app to record the connection", () => received.length > before);
  return { ...out, atApp: received[received.length - 1] };
}

describe("proxyProtocol: v2", () => {
  it("gives the app a PROXY v2 header with every fact of the connection, then the peer's bytes exactly", async () => {
    const payload = Buffer.concat([Buffer.from("GET / HTTP/1.0\r\n\r\n"), randomBytes(200_000)]);
    const c = await call(sc.port("http"), payload);
    const h = readProxyV2(c.atApp as Buffer);
    expect(h).toMatchObject({ command: "PROXY", transport: "STREAM", family: "AF_INET" });
    expect(h.source).toEqual(c.local);
    expect(h.destination).toEqual({ address: "127.0.0.1", port: sc.port("http") });
    expect(h.tlvs.map((t) => t.type)).toEqual([0x20, 0xe0]);
    expect(h.ssl).toMatchObject({ client: 0x01 | 0x02 | 0x04, verify: 0 });
    expect(c.reused).toBe(false);
    expect(subText(h, 0x21)).toBe("TLSv1.3");
    expect(subText(h, 0x21)).toBe(c.protocol);
    expect(subText(h, 0x23)).toBe(c.cipher);
    expect(h.spiffeId).toBe(ID.frontend);
    expect(h.rest.equals(payload)).toBe(true);
    expect(c.answer).toBe(`caller=${ID.frontend}`);
  });

  it("sets PP2_CLIENT_CERT_SESS but not PP2_CLIENT_CERT_CONN when the peer resumed its TLS session", async () => {
    const first = await call(sc.port("http"), Buffer.from("one"));
    expect(first.session).toBeDefined();
    const again = await call(sc.port("http"), Buffer.from("two"), { session: first.session as Buffer });
    expect(again.reused).toBe(true);
    const h = readProxyV2(again.atApp as Buffer);
    expect(h.ssl).toMatchObject({ client: 0x01 | 0x04, verify: 0 });
    expect(h.spiffeId).toBe(ID.frontend);
    expect(h.rest.toString()).toBe("two");
  });

  it("names the TLS 1.2 version and OpenSSL cipher name a TLS 1.2 client negotiated", async () => {
    const c = await call(sc.port("http"), Buffer.from("old client"), { maxVersion: "TLSv1.2" });
    const h = readProxyV2(c.atApp as Buffer);
    expect(c.protocol).toBe("TLSv1.2");
    expect(subText(h, 0x21)).toBe("TLSv1.2");
    expect(subText(h, 0x23)).toBe(c.cipher);
    expect(c.cipher).toMatch(/^ECDHE-/);
    expect(h.rest.toString()).toBe("old client");
  });

  it("sends no header on a listener without the key: the app's first bytes are the peer's", async () => {
    const payload = Buffer.from("\r\n\r\nfirst bytes of the peer");
    const c = await call(sc.port("plain"), payload);
    expect(c.atApp?.equals(payload)).toBe(true);
    expect(() => readProxyV2(c.atApp as Buffer)).toThrow(/signature/);
    expect(c.answer).toBe("caller=no header");
  });

  it("sends nothing, header included, for a peer the policy refuses", async () => {
    const before = app.connections;
    const stranger = await ca.issue(ID.stranger);
    const denied = await new Promise<string>((resolve) => {
      let got = "";
      const s = tlsConnect({ host: "127.0.0.1", port: sc.port("http"), ca: ca.bundlePem, cert: stranger.chainPem, key: stranger.keyPem, checkServerIdentity: () => undefined });
      s.on("secureConnect", () => s.end("let me in"));
      s.on("data", (d: Buffer) => (got += d.toString()));
      s.on("error", () => undefined);
      s.on("close", () => resolve(got));
    });
    expect(denied).toBe("");
    await waitFor("the refusal to be counted", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "wrong_peer" })) === 1);
    expect(app.connections).toBe(before);
  });

  it("treats a client that sends a PROXY header itself as garbage: the TLS handshake fails and the app sees nothing", async () => {
    const before = app.connections;
    const forged = new V2ProxyProtocol(
      Command.PROXY,
      TransportProtocol.STREAM,
      new IPv4ProxyAddress(IPv4Address.createFrom([10, 9, 8, 7]), 4242, IPv4Address.createFrom([127, 0, 0, 1]), sc.port("http")),
    ).build();
    const closed = await new Promise<boolean>((resolve) => {
      const s: Socket = netConnect({ host: "127.0.0.1", port: sc.port("http") }, () => s.write(forged));
      s.on("error", () => undefined);
      s.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);
    await waitFor("the failed handshake to be counted", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "protocol_error" })) >= 1);
    expect(app.connections).toBe(before);
  });
});
