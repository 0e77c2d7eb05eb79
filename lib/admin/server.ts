/**
 * The plain-HTTP admin port both programs expose: `/metrics` (Prometheus text
 * format from the program's own registry), `/healthz` (the process is alive),
 * `/readyz` (the program can do its job; 503 with the reason when not), and,
 * when the program gives one, `/status` (its state as JSON, for people and
 * scripts; built by the program on each request).
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { HostPort } from "../net/address.js";

/** Readiness: ready, or not ready with a reason a person can act on. */
export type Readiness = { ready: true } | { ready: false; reason: string };

export interface AdminServerOptions {
  listen: HostPort;
  registry: Registry;
  readiness: () => Readiness;
  /**
   * The program's state for `GET /status`, serialised as JSON; without it
   * /status is 404. Called on every request; a throw or rejection answers 500.
   */
  status?: () => unknown;
}

export interface AdminServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

/** Starts the admin server; resolves once it listens. */
export async function startAdminServer({ listen, registry, readiness, status }: AdminServerOptions): Promise<AdminServer> {
  const paths = ["/metrics", "/healthz", "/readyz", ...(status ? ["/status"] : [])];
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    switch (path) {
      case "/metrics":
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n"),
        );
        return;
      case "/healthz":
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/readyz": {
        const state = readiness();
        if (state.ready) res.writeHead(200, { "content-type": "text/plain" }).end("ready\n");
        else res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: ${state.reason}\n`);
        return;
      }
      case "/status":
        if (status) {
          serveStatus(status, res);
          return;
        }
        break;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end(`not found: try ${paths.slice(0, -1).join(", ")} or ${paths[paths.length - 1]}\n`);
  });
  // Scrapes and probes are short; don't let a stuck client hold a socket.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: listen.host, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers /status with the program's state as JSON; never cached, since it changes as the program runs. */
function serveStatus(status: () => unknown, res: ServerResponse): void {
  const headers = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };
  Promise.resolve()
    .then(status)
    .then(
      (state) => res.writeHead(200, headers).end(`${JSON.stringify(state, null, 2)}\n`),
      // The builder is the program's own code and reads no secret, so its message is safe to show.
      (err: unknown) => res.writeHead(500, headers).end(`${JSON.stringify({ error: `the status could not be built: ${(err as Error).message ?? String(err)}` })}\n`),
    );
}
