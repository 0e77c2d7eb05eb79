/**
 * How the load generator reaches a target: plaintext TCP for `direct`, mutual
 * TLS 1.3 with X25519 and the client SVID for the proxies. The TLS context is
 * built once per process; each connection is a full handshake unless the
 * caller offers a session.
 */
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";

/** Client credentials for an mTLS target, as PEM file paths. */
export interface ClientTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** Where to connect, and with which identity. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** Absent for the plaintext `direct` target. */
  readonly tls?: ClientTls;
}

const contexts = new Map<string, SecureContext>();

/** The (cached) client context for a set of credentials. */
export function clientContext(tls: ClientTls): SecureContext {
  const key = `${tls.certFile}\0${tls.keyFile}\0${tls.caFile}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = createSecureContext({
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ca: readFileSync(tls.caFile),
      minVersion: "TLSv1.3",
      ecdhCurve: "X25519",
    });
    contexts.set(key, ctx);
  }
  return ctx;
}

/**
 * Opens a connection; `ready` fires once it can carry data (after the
 * handshake for TLS). The server certificate is verified against the bundle;
 * its name is not checked (SVIDs carry no DNS name, and the proxies under test
 * are what is measured, not the client's policy).
 */
export function open(endpoint: Endpoint, ready: (socket: Socket) => void, session?: Buffer): Socket {
  if (!endpoint.tls) {
    const socket = netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    socket.once("connect", () => ready(socket));
    return socket;
  }
  const socket: TLSSocket = tlsConnect({
    host: endpoint.host,
    port: endpoint.port,
    secureContext: clientContext(endpoint.tls),
    checkServerIdentity: () => undefined,
    ...(session ? { session } : {}),
  });
  socket.setNoDelay(true);
  socket.once("secureConnect", () => ready(socket));
  return socket;
}
