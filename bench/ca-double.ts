/**
 * A stand-in for mesh-ca when it is not built: just enough of the HTTP API
 * (`POST /v1/svid`, `GET /v1/bundle`) for a sidecar to get its SVID. It signs
 * every CSR for one fixed SPIFFE ID and accepts any bearer token: it is a
 * benchmark fixture on 127.0.0.1, never a CA.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { x509 } from "../lib/x509.js";
import type { BenchRoot } from "./pki.js";

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

async function issue(root: BenchRoot, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!/^Bearer \S+$/.test(req.headers.authorization ?? "") && (req.socket as { authorized?: boolean }).authorized !== true) {
    send(res, 401, { error: { code: "UNAUTHENTICATED", message: "send Authorization: Bearer <token>" } });
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

/** Starts the double on 127.0.0.1 (port 0), serving `serving` and signing every CSR for `id`. */
export async function startCaDouble(root: BenchRoot, id: string, serving: { chainPem: string; keyPem: string }): Promise<CaDouble> {
  const server: Server = createServer({ cert: serving.chainPem, key: serving.keyPem, ca: root.bundlePem, requestCert: true, rejectUnauthorized: false });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const route = `${req.method ?? ""} ${req.url ?? ""}`;
    if (route === "POST /v1/svid") {
      issue(root, id, req, res).catch((err: unknown) => {
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
