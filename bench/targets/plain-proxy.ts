/**
 * A plain Node mTLS proxy: the reference the "a plain Node 20 proxy
 * measured here" column refers to, and the place to measure a lever before
 * asking the sidecar to adopt it. Same job as haproxy's config: TLS 1.3,
 * X25519, client certificate verified against the bundle, URI SAN equal to
 * the allowed ID, then bytes piped to the backend. No SVID leaf rules, no
 * policy file, no metrics: it is a floor, not a product.
 *
 * `node dist/bench/targets/plain-proxy.js '<PlainProxyOptions JSON>'`
 */
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { TLS13_SUITES } from "./haproxy-config.js";

/** Options of the plain proxy process. */
export interface PlainProxyOptions {
  readonly port: number;
  readonly backendPort: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly allowedId: string;
  /** How the peer's URI SAN is read: the legacy object, the X509Certificate, or not at all (a floor: no authorization). */
  readonly peerCheck: "getPeerCertificate" | "getPeerX509Certificate" | "none";
  /** SSL_OP_NO_TICKET: stateful TLS 1.3 tickets instead of encrypted ones. */
  readonly noTicketOption: boolean;
}

function peerUris(socket: TLSSocket, how: PlainProxyOptions["peerCheck"], expected: string): string | undefined {
  if (how === "none") return expected;
  if (how === "getPeerX509Certificate") return socket.getPeerX509Certificate()?.subjectAltName;
  return socket.getPeerCertificate().subjectaltname;
}

function main(): void {
  const o = JSON.parse(process.argv[2] ?? "{}") as PlainProxyOptions;
  const expected = `URI:${o.allowedId}`;
  const server = createServer(
    {
      cert: readFileSync(o.certFile),
      key: readFileSync(o.keyFile),
      ca: readFileSync(o.caFile),
      // Half-close must pass both ways (the upload test's answer follows the client's end).
      allowHalfOpen: true,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      ecdhCurve: "X25519",
      ciphers: TLS13_SUITES,
      honorCipherOrder: true,
      ...(o.noTicketOption ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}),
    },
    (socket) => {
      if (peerUris(socket, o.peerCheck, expected) !== expected) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      const upstream = connect({ host: "127.0.0.1", port: o.backendPort, noDelay: true, allowHalfOpen: true });
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    },
  );
  server.on("tlsClientError", () => undefined);
  server.listen({ host: "127.0.0.1", port: o.port, backlog: 4096 });
  process.on("SIGTERM", () => process.exit(0));
}

main();
