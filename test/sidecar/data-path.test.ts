/**
 * The proxied byte stream: intact both ways, half-close propagated in both
 * directions, resets propagated, buffering bounded when the app stops
 * reading, idle connections closed; and the TLS versions and suites offered.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { Backend, ID, logsWith, metricValue, sleep, startTestSidecar, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

let ca: FakeCa;
let client: { chainPem: string; keyPem: string };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await FakeCa.create();
  client = await ca.issue(ID.frontend);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await ca?.stop();
});

async function sidecarFor(backend: Backend, extra: Partial<Parameters<typeof startTestSidecar>[0]> = {}): Promise<TestSidecar> {
  const sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }], ...extra });
  cleanups.push(() => sc.stop(), () => backend.close());
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  return sc;
}

function connectClient(port: number, opts: { minVersion?: "TLSv1.2"; maxVersion?: "TLSv1.2"; ciphers?: string } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, cert: client.chainPem, key: client.keyPem, checkServerIdentity: () => undefined, allowHalfOpen: true, ...opts } as ConnectionOptions);
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
}

function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

describe("data path", () => {
  it("carries 4 MiB each way intact", async () => {
    const sc = await sidecarFor(await Backend.start());
    const payload = randomBytes(4 << 20);
    const s = await connectClient(sc.port("http"));
    const answer = readAll(s);
    s.end(payload);
    const echoed = await answer;
    expect(echoed.length).toBe(payload.length);
    expect(createHash("sha256").update(echoed).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
  });

  it("propagates the client's half-close to the app and still carries the app's answer", async () => {
    const backend = await Backend.start((socket) => {
      let got = "";
      socket.on("data", (d: Buffer) => (got += d.toString()));
      socket.on("end", () => socket.end(`app saw FIN after "${got}"`));
    });
    const sc = await sidecarFor(backend);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "ping" });
    expect(res.received).toBe('app saw FIN after "ping"');
  });

  it("propagates the app's half-close to the client, which can still send", async () => {
    let late = "";
    const backend = await Backend.start((socket) => {
      socket.end("bye");
      socket.on("data", (d: Buffer) => (late += d.toString()));
    });
    const sc = await sidecarFor(backend);
    const s = await connectClient(sc.port("http"));
    const got = await readAll(s); // resolves on the app's FIN
    expect(got.toString()).toBe("bye");
    s.end("still talking");
    await waitFor("the late bytes at the app", () => late === "still talking");
  });

  it("closes the client when the app resets the connection", async () => {
    const backend = await Backend.start((socket) => socket.on("data", () => socket.resetAndDestroy()));
    const sc = await sidecarFor(backend);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x", end: false, waitMs: 5_000 });
    expect(res.closed).toBe(true);
    await waitFor("no active connection", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_connections_active", { listener: "http", direction: "inbound" })) === 0);
  });

  it("closes the peer's connection, and says why in the log, when the app is not listening", async () => {
    const gone = await Backend.start();
    await gone.close();
    const sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: gone.address }] });
    cleanups.push(() => sc.stop());
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x", end: false });
    expect(res.closed).toBe(true);
    expect(res.received).toBe("");
    expect(logsWith(sc.logs, "cannot reach the app")[0]).toMatchObject({ listener: "http", forward: gone.address, err: "ECONNREFUSED" });
  });

  it("stops reading from the client when the app stops reading (bounded buffering)", async () => {
    const backend = await Backend.start((socket) => socket.pause());
    const sc = await sidecarFor(backend);
    const s = await connectClient(sc.port("http"));
    const chunk = Buffer.alloc(1 << 20);
    let written = 0;
    // Write until the pipeline pushes back and stays pushed back.
    for (let i = 0; i < 64; i++) {
      written += chunk.length;
      if (!s.write(chunk)) {
        const drained = await Promise.race([new Promise((r) => s.once("drain", () => r(true))), sleep(500).then(() => false)]);
        if (!drained) break;
      }
    }
    expect(written).toBeLessThan(32 << 20);
    s.destroy();
  });

  it("closes connections idle for limits.idleTimeout", async () => {
    const sc = await sidecarFor(await Backend.start(), { limits: { idleTimeout: "1s" } });
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x", end: false, waitMs: 8_000 });
    expect(res.received).toBe("x");
    expect(res.closed).toBe(true);
  });
});

describe("TLS versions and suites", () => {
  it("refuses a TLS 1.2 client by default (TLS 1.3 only)", async () => {
    const backend = await Backend.start();
    const sc = await sidecarFor(backend);
    const res = await tlsExchange(sc.port("http"), { identity: client, bundlePem: ca.bundlePem, data: "x", maxVersion: "TLSv1.2" });
    expect(res.handshake).toBe(false);
    expect(backend.connections).toBe(0);
    await waitFor("protocol_error counted", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "protocol_error" })) === 1);
  });

  it("with minVersion TLSv1.2 accepts TLS 1.2 with an AEAD suite and refuses CBC suites", async () => {
    const backend = await Backend.start();
    const sc = await sidecarFor(backend, { tlsMinVersion: "TLSv1.2" });
    const s = await connectClient(sc.port("http"), { maxVersion: "TLSv1.2" });
    expect(s.getProtocol()).toBe("TLSv1.2");
    expect(s.getCipher().name).toMatch(/GCM|CHACHA20/);
    s.destroy();
    await expect(connectClient(sc.port("http"), { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384" })).rejects.toThrow();
  });
});
