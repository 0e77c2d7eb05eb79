import { EventEmitter, once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.js";
import type { HostPort } from "../../lib/net/address.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { answerFor } from "../../test/sidecar/fake-ca.js";
import { metricValue } from "../../test/sidecar/harness.js";
import { SIDECAR_DEFAULTS } from "../config.js";
import { type ActiveCredentials, CredentialStore } from "../credentials/credential-store.js";
import { validateSvidAnswer } from "../credentials/svid-answer.js";
import { WorkloadKey } from "../credentials/workload-key.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";
import { SidecarMetrics } from "../metrics.js";
import { ListenerBase, type ListenerBaseDeps } from "./listener-base.js";
import { DEFAULT_GROUPS } from "../../lib/tls/groups.js";

/** The smallest kind of listener: keeps every socket it is handed, and says when it was asked to destroy what it holds. */
class HoldingListener extends ListenerBase {
  readonly handed: { socket: Socket; credentials: ActiveCredentials }[] = [];
  destroyedEstablished = 0;
  private readonly arrivals = new EventEmitter();

  constructor(deps: ListenerBaseDeps) {
    super(deps, "inbound");
  }

  /** Resolves once `n` sockets have been handed over. */
  async handedOver(n: number): Promise<void> {
    while (this.handed.length < n) await once(this.arrivals, "handed");
  }

  protected onConnection(socket: Socket, credentials: ActiveCredentials): void {
    socket.on("error", () => {});
    // Accepted sockets are half-open capable: end our side when the client ends, as a proxy kind would.
    socket.on("end", () => socket.end());
    this.handed.push({ socket, credentials });
    this.arrivals.emit("handed");
  }

  protected destroyEstablished(): void {
    this.destroyedEstablished++;
  }
}

const TD = TrustDomain.parse("example.org");
let ca: TestCa;
let key: WorkloadKey;
const open: { listeners: ListenerBase[]; sockets: Socket[]; servers: Server[] } = { listeners: [], sockets: [], servers: [] };

beforeAll(async () => {
  ca = await TestCa.create({ trustDomain: "example.org" });
  key = await WorkloadKey.generate();
});

afterEach(async () => {
  for (const s of open.sockets.splice(0)) s.destroy();
  for (const l of open.listeners.splice(0)) {
    l.stopAccepting();
    l.destroyAll();
  }
  await Promise.all(open.servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function credentialStore(withSvid: boolean): Promise<CredentialStore> {
  const answer = await answerFor(ca, await key.csrPem(), "spiffe://example.org/ns/a/sa/b", 60_000);
  const { svid, bundle } = validateSvidAnswer(answer, { key, trustDomain: TD, now: new Date() });
  const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
  if (withSvid) store.install(svid, bundle);
  return store;
}

function listener(store: CredentialStore, { maxConnections = 10, listen = { host: "127.0.0.1", port: 0 } as HostPort } = {}) {
  const registry = new Registry();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: "test",
    level: "debug",
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  });
  const l = new HoldingListener({
    config: { name: "web", listen },
    limits: limitsOf(maxConnections),
    store,
    metrics: new SidecarMetrics(registry),
    log,
  });
  open.listeners.push(l);
  return { l, registry, lines };
}

function limitsOf(maxConnections: number) {
  return { handshakeTimeoutMs: SIDECAR_DEFAULTS.handshakeTimeoutMs, idleTimeoutMs: SIDECAR_DEFAULTS.idleTimeoutMs, drainGraceMs: SIDECAR_DEFAULTS.drainGraceMs, maxConnections };
}

/** Connects and resolves with the socket once connected. */
function dial(addr: HostPort): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(addr.port, addr.host, () => resolve(s));
    s.on("error", reject);
    open.sockets.push(s);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once("close", () => resolve())));
}

const rejected = (registry: Registry, reason: string): Promise<number> =>
  metricValue(registry, "mesh_sidecar_connections_rejected_total", { listener: "web", direction: "inbound", reason });

describe("ListenerBase", () => {
  it("refuses every connection before the first SVID, counted as not_ready, and hands none to its kind", async () => {
    const { l, registry } = listener(await credentialStore(false));
    const client = await dial(await l.listen());
    await closed(client);
    expect(l.handed).toHaveLength(0);
    expect(l.openConnections).toBe(0);
    expect(await rejected(registry, "not_ready")).toBe(1);
    expect(await rejected(registry, "max_connections")).toBe(0);
  });

  it("hands a connection to its kind with the credentials in force, and tracks it until it closes", async () => {
    const store = await credentialStore(true);
    const { l } = listener(store);
    const client = await dial(await l.listen());
    await l.handedOver(1);
    expect(l.handed[0]?.credentials).toBe(store.current);
    expect(l.openConnections).toBe(1);
    const handed = l.handed[0]?.socket as Socket;
    client.destroy();
    await closed(handed);
    expect(l.openConnections).toBe(0);
  });

  it("drops connections over limits.maxConnections, counts them and warns, and keeps serving the ones it holds", async () => {
    const { l, registry, lines } = listener(await credentialStore(true), { maxConnections: 1 });
    const addr = await l.listen();
    await dial(addr);
    await l.handedOver(1);
    const second = await dial(addr);
    await closed(second);
    expect(l.handed).toHaveLength(1);
    expect(l.openConnections).toBe(1);
    expect(await rejected(registry, "max_connections")).toBe(1);
    expect(lines.find((line) => line.msg === "refusing connections: limits.maxConnections reached")).toMatchObject({ listener: "web", direction: "inbound", maxConnections: 1, refused: 1 });
  });

  it("fails to listen on a taken address with LISTEN_FAILED naming the listener and the address", async () => {
    const taken = createServer();
    open.servers.push(taken);
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    const { l } = listener(await credentialStore(true), { listen: { host: "127.0.0.1", port } });
    const err = await l.listen().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SidecarError);
    expect(err).toMatchObject({ code: SidecarErrorCode.LISTEN_FAILED });
    expect((err as Error).message).toMatch(new RegExp(`^listener web cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    expect(() => l.address).toThrow("inbound listener web is not listening");
  });

  it("after stopAccepting refuses new connections and keeps the open ones; destroyAll closes those and what its kind holds", async () => {
    const { l } = listener(await credentialStore(true));
    const addr = await l.listen();
    const client = await dial(addr);
    await l.handedOver(1);
    l.stopAccepting();
    await expect(dial(addr)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(l.openConnections).toBe(1);
    expect(client.destroyed).toBe(false);
    l.destroyAll();
    await closed(client);
    expect(l.destroyedEstablished).toBe(1);
    expect(l.openConnections).toBe(0);
  });
});
