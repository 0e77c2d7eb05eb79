/**
 * The "app" behind an inbound sidecar, run inside the test process so a test
 * can assert what reached it: every TCP connection and request is counted.
 * A refused peer must never show up here (under TLS 1.3 the client's
 * handshake succeeds before the sidecar judges it, so only the backend can
 * tell).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What reached the backend. */
export interface BackendRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A running backend. */
export interface Backend {
  readonly name: string;
  readonly port: number;
  /** `HOST:PORT`, for a sidecar's `forward`. */
  readonly hostPort: string;
  /** TCP connections accepted so far (the sidecar opens one per accepted peer connection). */
  readonly connections: number;
  /** Who connected and when, for failure messages. */
  readonly connectionLog: readonly string[];
  /** Bytes received on all connections (HTTP or not). */
  readonly bytesReceived: number;
  readonly requests: readonly BackendRequest[];
  close(): Promise<void>;
}

/**
 * A loopback address of its own (Linux routes all of 127/8 to lo), so that
 * no other program on a busy test machine that dials 127.0.0.1 at a port it
 * believes is its own can reach this backend and spoil its connection count.
 */
export function privateLoopback(): string {
  const byte = (): number => 1 + Math.floor(Math.random() * 254);
  return `127.${byte()}.${byte()}.${byte()}`;
}

/**
 * An HTTP backend on its own loopback address. `GET /...` answers `{"service": name, "path": ...}`;
 * `GET /bulk?bytes=N&chunk=C&delayMs=D` streams N bytes in chunks of C with
 * D ms between them (a long transfer).
 */
export async function startBackend(name: string, host = privateLoopback()): Promise<Backend> {
  let connections = 0;
  let bytesReceived = 0;
  const connectionLog: string[] = [];
  const requests: BackendRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://backend");
      requests.push({ method: req.method ?? "", path: url.pathname, headers: req.headers, body });
      if (url.pathname === "/bulk") {
        streamBulk(res, Number(url.searchParams.get("bytes") ?? 0), Number(url.searchParams.get("chunk") ?? 65536), Number(url.searchParams.get("delayMs") ?? 0));
        return;
      }
      const answer = JSON.stringify({ service: name, path: url.pathname });
      res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(answer)) }).end(answer);
    });
  });
  server.on("connection", (socket: Socket) => {
    connections++;
    connectionLog.push(`${new Date().toISOString()} from ${socket.remoteAddress}:${socket.remotePort}`);
    sockets.add(socket);
    socket.on("data", (d: Buffer) => (bytesReceived += d.length));
    socket.on("close", () => sockets.delete(socket));
  });
  // Held connections in tests sit idle for a while; don't let Node's 5 s default close them.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    hostPort: `${host}:${port}`,
    get connections() {
      return connections;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    requests,
    connectionLog,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Deterministic content so the receiver can check every byte arrived in order. */
export function bulkByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

function streamBulk(res: ServerResponse, total: number, chunk: number, delayMs: number): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
  let sent = 0;
  const next = (): void => {
    if (sent >= total) {
      res.end();
      return;
    }
    const n = Math.min(chunk, total - sent);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = bulkByte(sent + i);
    sent += n;
    const more = res.write(buf);
    const go = (): void => void setTimeout(next, delayMs);
    if (more) go();
    else res.once("drain", go);
  };
  next();
}
