/**
 * Shared pieces of the sidecar integration tests: a backend app that records
 * what reaches it, a sidecar started in-process from a YAML config written
 * to a temp dir (through the real loader), TLS clients with test SVIDs, and
 * small readers for /metrics values and log lines.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { Registry } from "prom-client";
import { createLogger } from "../../lib/log.js";
import { loadSidecarConfig } from "../../sidecar/config.js";
import { startSidecar, type Sidecar, type SidecarOptions } from "../../sidecar/sidecar.js";
import type { FakeCa } from "./fake-ca.js";

export const TD = "example.org";
export const ID = {
  self: `spiffe://${TD}/ns/shop/sa/orders`,
  frontend: `spiffe://${TD}/ns/web/sa/frontend`,
  legacy: `spiffe://${TD}/ns/web/sa/legacy`,
  opsTool: `spiffe://${TD}/ns/ops/debugger`,
  stranger: `spiffe://${TD}/ns/other/sa/stranger`,
} as const;

/** A plaintext app behind the sidecar that echoes and records what reaches it. */
export class Backend {
  connections = 0;
  bytes = 0;
  readonly open = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Echo server (half-close aware: ends its side when the client ends). */
  static async start(onConnection?: (socket: Socket, backend: Backend) => void): Promise<Backend> {
    const self: { backend?: Backend } = {};
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      const b = self.backend as Backend;
      b.connections++;
      b.open.add(socket);
      socket.on("close", () => b.open.delete(socket));
      socket.on("error", () => {});
      socket.on("data", (d: Buffer) => {
        b.bytes += d.length;
      });
      if (onConnection) return onConnection(socket, b);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self.backend = new Backend(server, (server.address() as AddressInfo).port);
    return self.backend;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Options of startTestSidecar. */
export interface TestSidecarOptions {
  ca: FakeCa;
  /** Token written to the token file; the fake CA must map it to an ID. */
  token?: string;
  /** `proxyProtocol` is written as the listener's key when set (e.g. "v2"). */
  inbound?: { name: string; forward: string; proxyProtocol?: string }[];
  outbound?: { name: string; upstream: string; expectedPeer: string }[];
  policy?: string;
  /** Extra YAML lines under `limits:`. */
  limits?: Record<string, string | number>;
  ttl?: string;
  tlsMinVersion?: "TLSv1.2" | "TLSv1.3";
  /** tls.sessionResumption; the config default when absent. */
  sessionResumption?: boolean;
  bundleRefresh?: string;
  dir?: string;
  options?: SidecarOptions;
}

/** A sidecar under test with its files and captured log lines. */
export interface TestSidecar {
  sidecar: Sidecar;
  dir: string;
  configText: string;
  policyPath: string;
  tokenPath: string;
  logs: Record<string, unknown>[];
  port(listener: string): number;
  admin: string;
  stop(): Promise<void>;
}

export const DEFAULT_POLICY = `version: 1
listeners:
  http:
    allow:
      - ${ID.frontend}
      - spiffe://${TD}/ns/ops/*
      - spiffe://${TD}/ns/web/**
    deny:
      - ${ID.legacy}
`;

/** Writes config, token, bundle and policy to a temp dir and starts a sidecar from them. */
export async function startTestSidecar(o: TestSidecarOptions): Promise<TestSidecar> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "sidecar-test-")));
  const token = o.token ?? "token-orders";
  if (!o.ca.tokens.has(token)) o.ca.tokens.set(token, ID.self);
  await writeFile(join(dir, "bundle.pem"), o.ca.bundlePem);
  await writeFile(join(dir, "token"), `${token}\n`);
  await writeFile(join(dir, "policy.yaml"), o.policy ?? DEFAULT_POLICY);
  const inbound = o.inbound ?? [];
  const outbound = o.outbound ?? [];
  const limits = { handshakeTimeout: "2s", drainGrace: "2s", ...o.limits };
  const lines = [
    `trustDomain: ${TD}`,
    "ca:",
    `  url: ${o.ca.url}`,
    "  bundleFile: bundle.pem",
    "  tokenFile: token",
    ...(o.ttl ? [`  ttl: ${o.ttl}`] : []),
    ...(o.bundleRefresh ? [`  bundleRefresh: ${o.bundleRefresh}`] : []),
    ...(inbound.length
      ? [
          "inbound:",
          ...inbound.flatMap((l) => [
            `  - name: ${l.name}`,
            "    listen: 127.0.0.1:0",
            `    forward: ${l.forward}`,
            ...(l.proxyProtocol === undefined ? [] : [`    proxyProtocol: ${l.proxyProtocol}`]),
          ]),
        ]
      : []),
    ...(outbound.length
      ? ["outbound:", ...outbound.flatMap((l) => [`  - name: ${l.name}`, "    listen: 127.0.0.1:0", `    upstream: ${l.upstream}`, `    expectedPeer: "${l.expectedPeer}"`])]
      : []),
    ...(inbound.length ? ["policyFile: policy.yaml"] : []),
    "admin: 127.0.0.1:0",
    "limits:",
    ...Object.entries(limits).map(([k, v]) => `  ${k}: ${v}`),
    ...(o.tlsMinVersion !== undefined || o.sessionResumption !== undefined ? ["tls:"] : []),
    ...(o.tlsMinVersion ? [`  minVersion: ${o.tlsMinVersion}`] : []),
    ...(o.sessionResumption !== undefined ? [`  sessionResumption: ${o.sessionResumption}`] : []),
    "renewal:",
    "  backoffBase: 50ms",
    "  backoffCap: 300ms",
    "log:",
    "  level: debug",
  ];
  const configText = `${lines.join("\n")}\n`;
  const configPath = join(dir, "sidecar.yaml");
  await writeFile(configPath, configText);
  const config = loadSidecarConfig(configText, configPath, {});
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ name: "mesh-sidecar", level: "debug", format: "json", destination });
  const sidecar = await startSidecar(config, { log, policyPollIntervalMs: 200, ...o.options });
  return {
    sidecar,
    dir,
    configText,
    policyPath: join(dir, "policy.yaml"),
    tokenPath: join(dir, "token"),
    logs,
    port: (name) => sidecar.address(name).port,
    admin: `http://127.0.0.1:${sidecar.adminAddress.port}`,
    async stop() {
      await sidecar.close();
      if (!o.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** PEM material of a TLS client identity. */
export interface ClientIdentity {
  chainPem: string;
  keyPem: string;
}

/** The outcome of one TLS exchange. */
export interface Exchange {
  /** Everything received before the connection closed (or the wait ended). */
  received: string;
  /** The client's TLS handshake completed (under TLS 1.3 even a refused client gets here). */
  handshake: boolean;
  error?: string;
  closed: boolean;
}

/** Connects with mTLS, sends `data`, half-closes, and collects the answer until close or `waitMs`. */
export function tlsExchange(
  port: number,
  opts: { identity?: ClientIdentity | undefined; bundlePem: string; data?: string; waitMs?: number; end?: boolean; minVersion?: "TLSv1.2" | "TLSv1.3"; maxVersion?: "TLSv1.2" | "TLSv1.3" },
): Promise<Exchange> {
  return new Promise((resolve) => {
    const out: Exchange = { received: "", handshake: false, closed: false };
    const socket: TLSSocket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: opts.bundlePem,
      ...(opts.identity ? { cert: opts.identity.chainPem, key: opts.identity.keyPem } : {}),
      checkServerIdentity: () => undefined,
      ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    });
    socket.on("secureConnect", () => {
      out.handshake = true;
      if (opts.data !== undefined) socket.write(opts.data);
      if (opts.end !== false) socket.end();
    });
    collectUntilClose(socket, out, opts.waitMs ?? 3_000, resolve);
  });
}

/** An mTLS connection held open to an inbound listener whose app echoes: for tests of what a reload does to it. */
export interface HeldConnection {
  readonly socket: TLSSocket;
  /** True once the sidecar (or anyone) closed it. */
  closed(): boolean;
  /** Sends `text` and resolves with as many bytes back; rejects if the connection closes first. */
  echo(text: string): Promise<string>;
}

/** Opens an mTLS connection as `id` (a fresh SVID from `ca`) to `port`, once the handshake is done. */
export async function holdTlsConnection(ca: FakeCa, port: number, id: string): Promise<HeldConnection> {
  const svid = await ca.issue(id);
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, cert: svid.chainPem, key: svid.keyPem, checkServerIdentity: () => undefined }, () => resolve(s));
    s.on("error", reject);
  });
  let closed = false;
  socket.on("error", () => undefined);
  socket.on("close", () => (closed = true));
  return {
    socket,
    closed: () => closed,
    echo: (text) =>
      new Promise((resolve, reject) => {
        let got = "";
        const onData = (d: Buffer): void => {
          got += d.toString();
          if (got.length >= text.length) {
            socket.off("data", onData);
            resolve(got);
          }
        };
        socket.on("data", onData);
        socket.once("close", () => reject(new Error("closed")));
        socket.write(text);
      }),
  };
}

/** A plaintext exchange with a local (outbound) listener. */
export function plainExchange(port: number, data: string, waitMs = 3_000): Promise<{ received: string; closed: boolean; error?: string }> {
  return new Promise((resolve) => {
    const out: { received: string; closed: boolean; error?: string } = { received: "", closed: false };
    const socket = netConnect({ host: "127.0.0.1", port, allowHalfOpen: true });
    socket.on("connect", () => {
      socket.write(data);
      socket.end();
    });
    collectUntilClose(socket, out, waitMs, resolve);
  });
}

/** Accumulates what `socket` receives into `out`; resolves at close, or after `waitMs` (destroying it). */
function collectUntilClose<T extends { received: string; closed: boolean; error?: string }>(
  socket: Socket,
  out: T,
  waitMs: number,
  resolve: (out: T) => void,
): void {
  const timer = setTimeout(() => {
    socket.destroy();
    resolve(out);
  }, waitMs);
  socket.on("data", (d: Buffer) => {
    out.received += d.toString("utf8");
  });
  socket.on("error", (err: Error) => {
    out.error = (err as { code?: string }).code ?? err.message;
  });
  socket.on("close", () => {
    out.closed = true;
    clearTimeout(timer);
    resolve(out);
  });
}

/** A metric's value for exactly these labels (0 when the series does not exist). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const want = Object.entries(labels);
  const found = values.find((v) => {
    const l = v.labels as Record<string, string | number>;
    return want.every(([k, val]) => String(l[k]) === val) && Object.keys(l).length === want.length;
  });
  return found?.value ?? 0;
}

/** GET over plain HTTP. */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Polls `check` until it returns true or the time is up (then throws with `what`). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Log lines whose msg contains `text`. */
export function logsWith(logs: Record<string, unknown>[], text: string): Record<string, unknown>[] {
  return logs.filter((l) => typeof l.msg === "string" && l.msg.includes(text));
}
