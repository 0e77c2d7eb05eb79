/**
 * The local mesh's sample service: a plain HTTP server that knows nothing
 * about TLS or SPIFFE (its sidecar does that) and answers every request with
 * its own name and what it received. With `--call URL` it first calls that
 * URL (its sidecar's outbound listener) and includes the answer, so one
 * request to `frontend` shows the whole path frontend → orders. With
 * `--proxy-protocol v2` (its sidecar's listener has `proxyProtocol: v2`) it
 * reads the PROXY v2 header first on every connection and answers with the
 * caller it names: the SPIFFE ID its sidecar verified.
 *
 *   node dist/deploy/local/sample-app.js --name orders --listen 127.0.0.1:18020 --proxy-protocol v2
 *   node dist/deploy/local/sample-app.js --name frontend --listen 127.0.0.1:18010 --call http://127.0.0.1:18012
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { formatHelp, parseFlags, UsageError } from "../../lib/cli/flags.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { parseHostPort } from "../../lib/net/address.js";
import { type Caller, readProxyHeader } from "./proxy-header.js";

const FLAGS = {
  name: { type: "string", description: "service name echoed in every answer", placeholder: "NAME", required: true },
  listen: { type: "string", description: "plain HTTP address (the sidecar forwards here)", placeholder: "HOST:PORT", required: true },
  call: { type: "string", description: "URL to call on every request (the sidecar's outbound listener)", placeholder: "URL" },
  "proxy-protocol": { type: "string", description: "v2: every connection starts with a PROXY v2 header from the sidecar; answer with the caller it names", placeholder: "VERSION" },
} as const;

/** Largest request body echoed back; the sample is for trying the mesh, not for bulk data. */
const MAX_ECHO_BYTES = 64 * 1024;
const UPSTREAM_TIMEOUT_MS = 5_000;
/** The sidecar writes the header before anything else; a connection silent this long is not from it. */
const HEADER_TIMEOUT_MS = 5_000;

/** The caller each connection's PROXY header named. */
const callers = new WeakMap<Socket, Caller>();

/** What the service saw; echoed as JSON. */
interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The peer's address: with --proxy-protocol the caller's, from the header; else the socket's (the sidecar's). */
  from: string;
}

function main(argv: string[]): void {
  let flags;
  try {
    flags = parseFlags("sample-app", argv, FLAGS);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(formatHelp("sample-app", "A plain HTTP service that echoes its name and what it received.", FLAGS));
    return;
  }
  const name = flags.name as string;
  const listen = parseHostPort(flags.listen as string);
  const call = flags.call === undefined ? undefined : new URL(flags.call);
  if (!listen) {
    console.error(`sample-app: --listen: expected host:port, got "${flags.listen}"`);
    process.exit(2);
  }
  const proxyProtocol = flags["proxy-protocol"];
  if (proxyProtocol !== undefined && proxyProtocol !== "v2") {
    console.error(`sample-app: --proxy-protocol: only v2 is understood, got "${proxyProtocol}"`);
    process.exit(2);
  }
  const log = createLogger({ name });
  const http = createServer((req, res) => void handle(name, call, log, req, res));
  const server = proxyProtocol === undefined ? http : behindProxyHeader(http, log);
  server.on("error", (err: NodeJS.ErrnoException) => {
    log.error({ err, listen: flags.listen }, err.code === "EADDRINUSE" ? `port ${listen.port} is already in use` : "cannot listen");
    process.exit(1);
  });
  server.listen(listen.port, listen.host, () => log.info({ listen: flags.listen, call: call?.href, proxyProtocol }, `${name} is listening`));
  const stop = (): void => {
    log.info("stopping");
    server.close(() => process.exit(0));
    http.closeIdleConnections();
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

/**
 * A TCP server that reads each connection's PROXY v2 header, remembers the
 * caller, and hands the rest of the connection to `http`. A connection
 * without a good header is closed: whoever opened it could claim anyone.
 */
function behindProxyHeader(http: ReturnType<typeof createServer>, log: Logger): NetServer {
  return createNetServer((socket) => {
    socket.on("error", () => socket.destroy());
    readProxyHeader(socket, HEADER_TIMEOUT_MS).then(
      (caller) => {
        callers.set(socket, caller);
        http.emit("connection", socket);
      },
      (err: Error) => {
        // A readiness probe connects and closes without a byte: not worth a warning.
        if (socket.bytesRead === 0) log.debug({ reason: err.message }, "connection closed before a PROXY header");
        else log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, reason: err.message }, "refused a connection without a valid PROXY v2 header");
        socket.destroy();
      },
    );
  });
}

async function handle(name: string, call: URL | undefined, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const caller = callers.get(req.socket);
  const received: Received = {
    method: req.method ?? "GET",
    path: req.url ?? "/",
    headers: req.headers,
    body: await readBody(req),
    from: caller ? caller.address : `${req.socket.remoteAddress}:${req.socket.remotePort}`,
  };
  // With --proxy-protocol the answer says who called: the SPIFFE ID the sidecar verified, and how.
  const answer: Record<string, unknown> = { service: name, ...(caller ? { caller } : {}), received };
  let status = 200;
  if (call) {
    const target = new URL(received.path, call);
    try {
      const upstream = await get(target, name);
      answer.upstream = { url: target.href, status: upstream.status, body: parseMaybeJson(upstream.body) };
      if (upstream.status !== 200) status = 502;
    } catch (err) {
      answer.upstream = { url: target.href, error: (err as Error).message };
      status = 502;
    }
  }
  log.info({ method: received.method, path: received.path, from: received.from, caller: caller?.spiffeId, status }, "request");
  res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify(answer, null, 2)}\n`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      if (body.length < MAX_ECHO_BYTES) body += chunk.slice(0, MAX_ECHO_BYTES - body.length);
    });
    req.on("end", () => resolve(body));
    req.on("error", () => resolve(body));
  });
}

function get(url: URL, caller: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { "x-caller": caller, connection: "close" }, timeout: UPSTREAM_TIMEOUT_MS }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
    // The outbound sidecar closes the connection when the upstream refuses us; say so plainly.
    req.on("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ECONNRESET" || err.message === "socket hang up" ? new Error(`connection closed without an answer (${err.code ?? err.message})`) : err),
    );
    req.end();
  });
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

main(process.argv.slice(2));
