/**
 * Limits and refusals at the edges: a silent socket is closed at the
 * handshake timeout (inbound, and a silent upstream on the outbound side),
 * maxConnections is enforced at accept, and an outbound listener refuses an
 * upstream from another CA without sending it a byte of the app's.
 */
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../helpers/test-ca.js";
import { FakeCa } from "./fake-ca.js";
import { Backend, ID, metricValue, plainExchange, startTestSidecar, TD, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

let ca: FakeCa;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await FakeCa.create();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await ca?.stop();
});

async function inboundSidecar(limits: Record<string, string | number>): Promise<{ sc: TestSidecar; backend: Backend }> {
  const backend = await Backend.start();
  const sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }], limits });
  cleanups.push(() => backend.close(), () => sc.stop());
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  return { sc, backend };
}

function closeOf(port: number, send?: string): Promise<{ closed: boolean }> {
  return new Promise((resolve) => {
    const s = netConnect({ host: "127.0.0.1", port }, () => {
      if (send !== undefined) s.write(send);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false });
    }, 10_000);
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ closed: true });
    });
  });
}

/** Listens on a free port; cleanup closes the server and whatever connections it still holds. */
async function listen(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

describe("inbound limits", () => {
  it("closes a socket that never starts a TLS handshake at limits.handshakeTimeout", async () => {
    const { sc, backend } = await inboundSidecar({ handshakeTimeout: "500ms" });
    expect(await closeOf(sc.port("http"))).toEqual({ closed: true });
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "timeout" })).toBe(1);
    expect(backend.connections).toBe(0);
  });

  it("counts garbage instead of a ClientHello as a protocol error", async () => {
    const { sc, backend } = await inboundSidecar({});
    expect(await closeOf(sc.port("http"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")).toEqual({ closed: true });
    await waitFor("the count", async () => (await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "protocol_error" })) === 1);
    expect(backend.connections).toBe(0);
  });

  it("enforces limits.maxConnections at accept and accepts again once a connection closes", async () => {
    const { sc, backend } = await inboundSidecar({ maxConnections: 2 });
    const client = await ca.issue(ID.frontend);
    const port = sc.port("http");
    const open = [
      tlsExchange(port, { identity: client, bundlePem: ca.bundlePem, data: "1", end: false, waitMs: 30_000 }),
      tlsExchange(port, { identity: client, bundlePem: ca.bundlePem, data: "2", end: false, waitMs: 30_000 }),
    ];
    await waitFor("two proxied connections", () => backend.connections === 2);
    const third = await tlsExchange(port, { identity: client, bundlePem: ca.bundlePem, data: "3" });
    expect(third.handshake).toBe(false);
    expect(third.received).toBe("");
    expect(backend.connections).toBe(2);
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_connections_rejected_total", { listener: "http", direction: "inbound", reason: "max_connections" })).toBe(1);
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_connections_active", { listener: "http", direction: "inbound" })).toBe(2);

    for (const s of backend.open) s.end();
    await Promise.all(open);
    const fourth = await tlsExchange(port, { identity: client, bundlePem: ca.bundlePem, data: "4" });
    expect(fourth.received).toBe("4");
  });
});

describe("outbound refusals", () => {
  let sc: TestSidecar;
  let silentPort: number;
  let foreignPort: number;
  let foreignAppBytes = 0;
  let foreignConnections = 0;

  beforeAll(async () => {
    silentPort = await listen(createNetServer(() => {}));
    const other = await TestCa.create({ trustDomain: TD });
    const impostor = await other.issue(ID.self);
    const foreign = createTlsServer({ cert: impostor.chainPem, key: impostor.keyPem, requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
      s.on("data", (d: Buffer) => (foreignAppBytes += d.length));
      s.on("error", () => {});
    });
    foreign.on("connection", () => foreignConnections++);
    foreignPort = await listen(foreign);
    sc = await startTestSidecar({
      ca,
      limits: { handshakeTimeout: "500ms" },
      outbound: [
        { name: "silent", upstream: `127.0.0.1:${silentPort}`, expectedPeer: ID.self },
        { name: "foreign", upstream: `127.0.0.1:${foreignPort}`, expectedPeer: ID.self },
      ],
    });
    cleanups.push(() => sc.stop());
    await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
  });

  it("closes the app connection when the upstream never completes a handshake", async () => {
    const res = await plainExchange(sc.port("silent"), "hello?", 10_000);
    expect(res.closed).toBe(true);
    expect(res.received).toBe("");
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "silent", direction: "outbound", result: "timeout" })).toBe(1);
  });

  it("refuses an upstream whose certificate comes from another CA, sending it nothing", async () => {
    const res = await plainExchange(sc.port("foreign"), "secret payload");
    expect(res.closed).toBe(true);
    expect(res.received).toBe("");
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "foreign", direction: "outbound", result: "untrusted" })).toBe(1);
    expect(foreignConnections).toBe(1);
    expect(foreignAppBytes).toBe(0);
  });
});
