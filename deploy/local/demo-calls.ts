/**
 * The calls `npm start` makes once the mesh is ready, to show it working:
 * an mTLS request with a client identity the policy allows, one with an
 * identity it does not, and a plain request to the frontend app, which calls
 * orders through its own sidecar. Also the curl and openssl commands that
 * repeat them by hand.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { PeerCertificate } from "node:tls";

/** How a call ended. */
export interface CallOutcome {
  /** allowed: the app answered; refused: the sidecar closed or rejected us; failed: something else went wrong. */
  result: "allowed" | "refused" | "failed";
  /** One line a person can read. */
  detail: string;
  status?: number;
  body?: string;
}

/** A client identity on disk, as `mesh-ca issue --out PREFIX` writes it. */
export interface ClientFiles {
  certFile: string;
  keyFile: string;
  bundleFile: string;
}

const CALL_TIMEOUT_MS = 5_000;

/**
 * GET https://host:port/ with a client SVID. The server is checked against
 * the bundle and must present `expectedServerId` as its URI SAN (an SVID has
 * no DNS name to check).
 */
export function mtlsGet(host: string, port: number, client: ClientFiles, expectedServerId: string): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host,
        port,
        path: "/",
        headers: { connection: "close" },
        cert: readFileSync(client.certFile),
        key: readFileSync(client.keyFile),
        ca: readFileSync(client.bundleFile),
        minVersion: "TLSv1.3",
        agent: false,
        timeout: CALL_TIMEOUT_MS,
        checkServerIdentity: (_host: string, cert: PeerCertificate) => checkSpiffeId(cert, expectedServerId),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ result: "allowed", detail: `HTTP ${res.statusCode}`, status: res.statusCode ?? 0, body }));
        res.on("error", (err) => resolve(classify(err)));
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })));
    req.on("error", (err) => resolve(classify(err)));
    req.end();
  });
}

/** GET http://host:port/ (the frontend app, which calls orders through its sidecar). */
export function plainGet(host: string, port: number): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const req = httpRequest({ host, port, path: "/", headers: { connection: "close" }, timeout: CALL_TIMEOUT_MS, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        resolve({ result: status === 200 ? "allowed" : "failed", detail: `HTTP ${status}`, status, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    req.on("error", (err) => resolve({ result: "failed", detail: err.message }));
    req.end();
  });
}

function checkSpiffeId(cert: PeerCertificate, expected: string): Error | undefined {
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  return uris.length === 1 && uris[0] === expected ? undefined : new Error(`server presented ${uris.join(", ") || "no URI SAN"}, expected ${expected}`);
}

/**
 * Under TLS 1.3 the client's handshake completes before the server has
 * judged the client certificate, so a refusal shows up as a closed or reset
 * connection (or a TLS alert) instead of an HTTP answer.
 */
function classify(err: Error & { code?: string }): CallOutcome {
  const code = err.code ?? "";
  if (code === "ECONNRESET" || err.message === "socket hang up" || /alert/i.test(err.message) || code.startsWith("ERR_SSL_TLSV1_ALERT") || code.startsWith("ERR_SSL_TLSV13_ALERT")) {
    return { result: "refused", detail: `connection closed by the sidecar without an answer (${code || err.message})` };
  }
  return { result: "failed", detail: `${code ? `${code}: ` : ""}${err.message}` };
}

/** Quotes a path for a POSIX shell only when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The curl command that repeats an mTLS call by hand. `-k`: see `curlNote`. */
export function curlCommand(client: ClientFiles, hostPort: string): string {
  return `curl -sS -k --cert ${shellQuote(client.certFile)} --key ${shellQuote(client.keyFile)} https://${hostPort}/`;
}

/**
 * Why the curl command has `-k`: curl matches the server's certificate
 * against a host name or IP, and an SVID has only a spiffe:// URI. curl has
 * no option that skips just that match, so `-k` turns off its check of the
 * server altogether (the client certificate is still sent and still judged
 * by the sidecar). The openssl command checks the server's chain.
 */
export const CURL_NOTE =
  "-k because an SVID names its holder only by a spiffe:// URI, which curl cannot match against a host name, and curl has no option to skip only that match: -k stops curl checking the server at all (the sidecar still checks YOUR certificate). To check the server's chain too, use the openssl command.";

/** The openssl s_client command that repeats an mTLS call and does verify the server's chain against the bundle. */
export function opensslCommand(client: ClientFiles, hostPort: string): string {
  return `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | openssl s_client -quiet -verify_return_error -CAfile ${shellQuote(client.bundleFile)} -cert ${shellQuote(client.certFile)} -key ${shellQuote(client.keyFile)} -connect ${hostPort}`;
}
