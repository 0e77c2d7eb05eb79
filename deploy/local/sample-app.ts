/**
 * The local mesh's sample service: a plain HTTP server that knows nothing
 * about TLS or SPIFFE (its sidecar does that) and answers every request with
 * its own name and what it received. With `--call URL` it first calls that
 * URL (its sidecar's outbound listener) and includes the answer, so one
 * request to `frontend` shows the whole path frontend → orders.
 *
 *   node dist/deploy/local/sample-app.js --name orders --listen 127.0.0.1:18020
 *   node dist/deploy/local/sample-app.js --name frontend --listen 127.0.0.1:18010 --call http://127.0.0.1:18012
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { formatHelp, parseFlags, UsageError } from "../../lib/cli/flags.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { parseHostPort } from "../../lib/net/address.js";

const FLAGS = {
  name: { type: "string", description: "service name echoed in every answer", placeholder: "NAME", required: true },
  listen: { type: "string", description: "plain HTTP address (the sidecar forwards here)", placeholder: "HOST:PORT", required: true },
  call: { type: "string", description: "URL to call on every request (the sidecar's outbound listener)", placeholder: "URL" },
} as const;

/** Largest request body echoed back; the sample is for trying the mesh, not for bulk data. */
const MAX_ECHO_BYTES = 64 * 1024;
const UPSTREAM_TIMEOUT_MS = 5_000;

/** What the service saw; echoed as JSON. */
interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
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
  const log = createLogger({ name });
  const server = createServer((req, res) => void handle(name, call, log, req, res));
  server.on("error", (err: NodeJS.ErrnoException) => {
    log.error({ err, listen: flags.listen }, err.code === "EADDRINUSE" ? `port ${listen.port} is already in use` : "cannot listen");
    process.exit(1);
  });
  server.listen(listen.port, listen.host, () => log.info({ listen: flags.listen, call: call?.href }, `${name} is listening`));
  const stop = (): void => {
    log.info("stopping");
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

async function handle(name: string, call: URL | undefined, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const received: Received = {
    method: req.method ?? "GET",
    path: req.url ?? "/",
    headers: req.headers,
    body: await readBody(req),
    from: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
  };
  const answer: Record<string, unknown> = { service: name, received };
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
  log.info({ method: received.method, path: received.path, from: received.from, status }, "request");
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
