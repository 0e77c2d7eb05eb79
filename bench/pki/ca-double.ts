/**
 * A stand-in for mesh-ca when it is not built: just enough of the HTTP API
 * (`POST /v1/svid`, `GET /v1/bundle`) for a sidecar to get its SVID. It signs
 * a CSR for the SPIFFE ID its bearer token stands for (or, on renewal, the ID
 * of the client certificate): a benchmark fixture on 127.0.0.1, never a CA.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { x509 } from "../../lib/x509.js";
import type { BenchRoot } from "./bench-root.js";

/** A running CA double. */
export interface CaDouble {
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** The ID a request may have an SVID for: its bearer token's, or its client certificate's URI SAN. */
function idOf(req: IncomingMessage, ids: ReadonlyMap<string, string>): string | undefined {
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
  if (bearer !== undefined) return ids.get(bearer);
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return undefined;
  return /URI:(spiffe:\/\/[^,\s]+)/.exec(socket.getPeerCertificate().subjectaltname ?? "")?.[1];
}

async function issue(root: BenchRoot, ids: ReadonlyMap<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = idOf(req, ids);
  if (id === undefined) {
    send(res, 401, { error: { code: "UNAUTHENTICATED", message: "send Authorization: Bearer <token> with a token the double knows" } });
    return;
  }
  const { csr: csrPem } = JSON.parse(await readBody(req)) as { csr?: unknown };
  if (typeof csrPem !== "string") {
    send(res, 400, { error: { code: "INVALID_CSR", message: "body must be {\"csr\": \"<PEM>\"}" } });
    return;
  }
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  if (!(await csr.verify())) {
    send(res, 400, { error: { code: "INVALID_CSR", message: "CSR signature does not verify" } });
    return;
  }
  const publicKey = await csr.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  const cert = await root.sign(id, publicKey);
  send(res, 200, {
    spiffeId: id,
    certChain: cert.toString("pem") + "\n",
    bundle: root.bundlePem,
    expiresAt: cert.notAfter.toISOString(),
  });
}

/** Starts the double on 127.0.0.1 (port 0), serving `serving` and signing for the ID of each token in `ids`. */
export async function startCaDouble(root: BenchRoot, ids: ReadonlyMap<string, string>, serving: { chainPem: string; keyPem: string }): Promise<CaDouble> {
  const server: Server = createServer({ cert: serving.chainPem, key: serving.keyPem, ca: root.bundlePem, requestCert: true, rejectUnauthorized: false });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const route = `${req.method ?? ""} ${req.url ?? ""}`;
    if (route === "POST /v1/svid") {
      issue(root, ids, req, res).catch((err: unknown) => {
        send(res, 500, { error: { code: "INTERNAL", message: err instanceof Error ? err.message : String(err) } });
      });
    } else if (route === "GET /v1/bundle") {
      res.writeHead(200, { "content-type": "application/x-pem-file" });
      res.end(root.bundlePem);
    } else {
      send(res, 404, { error: { code: "NOT_FOUND", message: `no route ${route}` } });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
