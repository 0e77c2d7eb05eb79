/**
 * Clients of the mesh for tests: HTTPS with a client SVID straight to an
 * inbound listener (checking the server's SPIFFE ID, as a sidecar would),
 * and a traffic generator that counts every failed request.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest, type Agent, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { PeerCertificate } from "node:tls";
import { sleep } from "../../helpers/processes.js";
import type { SvidFiles } from "./mesh.js";

/** An HTTP answer. */
export interface Answer {
  status: number;
  body: string;
}

/** The URI SANs of a peer certificate. */
export function uriSans(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

/**
 * GET https://HOST:PORT/PATH with `client` as client certificate; the server
 * must chain to the client's bundle and, when given, present `serverId`.
 * Rejects when the connection is closed without an answer.
 */
export function mtlsGet(hostPort: string, client: SvidFiles | undefined, { path = "/", serverId, timeoutMs = 5_000, caFile }: { path?: string; serverId?: string; timeoutMs?: number; caFile?: string } = {}): Promise<Answer> {
  const [host, port] = splitHostPort(hostPort);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        path,
        agent: false,
        headers: { connection: "close" },
        ...(client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {}),
        ca: readFileSync(caFile ?? (client as SvidFiles).bundleFile),
        timeout: timeoutMs,
        checkServerIdentity: (_h: string, cert: PeerCertificate) => {
          const ids = uriSans(cert);
          return serverId === undefined || (ids.length === 1 && ids[0] === serverId) ? undefined : new Error(`server is ${ids.join(",")}, expected ${serverId}`);
        },
      },
      (res) => collect(res, resolve, reject),
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** GET http://HOST:PORT/PATH through an outbound listener (the app's side), optionally on a keep-alive agent. */
export function plainGet(hostPort: string, { path = "/", agent, timeoutMs = 5_000 }: { path?: string; agent?: Agent; timeoutMs?: number } = {}): Promise<Answer> {
  const [host, port] = splitHostPort(hostPort);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: agent ?? false, timeout: timeoutMs, headers: agent ? {} : { connection: "close" } }, (res) =>
      collect(res, resolve, reject),
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

function collect(res: IncomingMessage, resolve: (a: Answer) => void, reject: (e: Error) => void): void {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (c: string) => (body += c));
  res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
  res.on("error", reject);
}

/** "host:port" → [host, port]. */
export function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(":");
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ""), Number(hostPort.slice(i + 1))];
}

/** What a traffic generator saw. */
export interface TrafficReport {
  ok: number;
  failed: number;
  /** The first failures, with the time they happened. */
  failures: string[];
}

/** A running traffic generator. */
export interface Traffic {
  /** Requests so far. */
  readonly ok: number;
  readonly failed: number;
  stop(): Promise<TrafficReport>;
}

/**
 * Sends requests with `send` from `workers` loops, `pauseMs` apart, until
 * stopped; every rejection or non-200 answer counts as a failure. Bounded:
 * at most `workers` requests in flight.
 */
export function startTraffic(send: () => Promise<Answer>, { workers = 2, pauseMs = 25 } = {}): Traffic {
  let running = true;
  const report: TrafficReport = { ok: 0, failed: 0, failures: [] };
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        const a = await send();
        if (a.status === 200) report.ok++;
        else fail(`HTTP ${a.status}: ${a.body.slice(0, 200)}`);
      } catch (err) {
        fail((err as Error).message);
      }
      await sleep(pauseMs);
    }
  };
  const fail = (what: string): void => {
    report.failed++;
    if (report.failures.length < 20) report.failures.push(`${new Date().toISOString()} ${what}`);
  };
  const loops = Array.from({ length: workers }, () => loop());
  return {
    get ok() {
      return report.ok;
    },
    get failed() {
      return report.failed;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return report;
    },
  };
}
