/**
 * An inbound listener: mutual TLS in, plaintext to the app.
 *
 * A plain net.Server accepts (enforcing maxConnections and refusing
 * everything before the first SVID), then hands each socket to a tls.Server
 * that requests a client certificate but does NOT let OpenSSL refuse it, so
 * every refusal is classified for mesh_sidecar_tls_handshakes_total. After
 * the handshake, in order: a certificate was sent; OpenSSL's chain check
 * against the bundle passed; the leaf passes every X.509-SVID rule and is in
 * our trust domain; the policy allows its ID. Only then is the app connection
 * opened: a refused peer never gets a byte to the app. A peer resuming a TLS
 * session goes through the same steps with the certificate of its session.
 */
import { createServer as createNetServer, connect as netConnect, type Server as NetServer, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { HostPort } from "../../lib/net/address.js";
import type { Logger } from "../../lib/log.js";
import type { SpiffeId } from "../../lib/spiffe/id.js";
import type { InboundListenerConfig, LimitsConfig } from "../config.js";
import type { CredentialStore } from "../credentials/credential-store.js";
import { ConnectionTracker } from "./connection-tracker.js";
import type { HandshakeResult, ListenerMetrics, SidecarMetrics } from "../metrics.js";
import type { PeerVerifier } from "./peer-verifier.js";
import { resultOfAuthorizationError } from "./peer-verifier.js";
import type { Policy } from "../policy/policy.js";
import { splice, type SplicedConnection, type SpliceOwner } from "./splice.js";

/** What an inbound listener works with. */
export interface InboundDeps {
  readonly config: InboundListenerConfig;
  readonly limits: LimitsConfig;
  readonly store: CredentialStore;
  readonly verifier: PeerVerifier;
  /** The policy in force; read on every connection so a reload applies at once. */
  readonly policy: () => Policy;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
}

const ACCEPTED_AT = Symbol("acceptedAt");
/** Errors of a connect() that never reached the app. */
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);
type RawSocket = Socket & { [ACCEPTED_AT]?: number };

/** An inbound listener; create with `new`, then `listen()`. */
export class InboundListener implements SpliceOwner {
  readonly name: string;
  private readonly net: NetServer;
  private readonly tls: TlsServer;
  private readonly m: ListenerMetrics;
  private readonly log: Logger;
  private readonly tracker = new ConnectionTracker();
  private readonly established = new Set<SplicedConnection>();
  private unsubscribe: (() => void) | undefined;
  private bound: HostPort | undefined;

  constructor(private readonly deps: InboundDeps) {
    this.name = deps.config.name;
    this.m = deps.metrics.forListener(this.name, "inbound");
    this.log = deps.log.child({ listener: this.name, direction: "inbound" });
    this.tls = createTlsServer({
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: deps.limits.handshakeTimeoutMs,
      allowHalfOpen: true,
    });
    this.tls.on("secureConnection", (socket: TLSSocket) => this.onSecure(socket));
    this.tls.on("tlsClientError", (err: Error, socket: TLSSocket) => this.onHandshakeError(err, socket));
    this.net = createNetServer({ allowHalfOpen: true, noDelay: true }, (raw) => this.onAccept(raw));
    this.net.maxConnections = deps.limits.maxConnections;
    this.net.on("drop", () => {
      this.m.rejected.max_connections.inc();
      this.tracker.noteDrop(this.log, deps.limits.maxConnections);
    });
  }

  /** Binds the listen address; new handshakes use whatever credentials are current. */
  async listen(): Promise<HostPort> {
    this.unsubscribe = this.deps.store.subscribe((active) => this.tls.setSecureContext(active.serverOptions));
    this.bound = await listenOn(this.net, this.deps.config.listen);
    // After binding, server errors are accept failures (e.g. EMFILE): log them, keep serving.
    this.net.on("error", (err: Error) => this.log.error({ err: (err as { code?: string }).code ?? err.message }, "accepting a connection failed"));
    return this.bound;
  }

  /** The bound address (after listen). */
  get address(): HostPort {
    if (!this.bound) throw new Error(`inbound listener ${this.name} is not listening`);
    return this.bound;
  }

  /** Accepted connections still open, in handshake or proxying. */
  get openConnections(): number {
    return this.tracker.size;
  }

  /** Stops accepting; open connections continue. */
  stopAccepting(): void {
    this.unsubscribe?.();
    if (this.net.listening) this.net.close();
  }

  /** Destroys every open connection (end of drain, shutdown). */
  destroyAll(): void {
    for (const conn of this.established) conn.destroy();
    this.tracker.destroyAll();
  }

  /** Re-authorizes established connections under `policy`; closes those now denied. Returns how many were closed. */
  recheck(policy: Policy): number {
    let closed = 0;
    for (const conn of this.established) {
      const decision = policy.decide(this.name, conn.peerId as SpiffeId);
      if (decision.decision === "allow") continue;
      this.m.authz(decision).inc();
      this.log.info({ peer: conn.peerId?.toString(), rule: decision.rule, reason: "policy_reload" }, "closing connection: the reloaded policy denies its peer");
      conn.destroy();
      closed++;
    }
    return closed;
  }

  spliceClosed(conn: SplicedConnection): void {
    if (this.established.delete(conn)) this.m.active.dec();
  }

  spliceError(conn: SplicedConnection, leg: "peer" | "app", err: Error): void {
    const code = (err as { code?: string }).code;
    if (leg === "app" && code !== undefined && CONNECT_ERRORS.has(code)) {
      this.log.warn({ peer: conn.peerId?.toString(), forward: `${this.deps.config.forward.host}:${this.deps.config.forward.port}`, err: code ?? err.message }, "cannot reach the app at the forward address; closing the peer connection");
    } else {
      this.log.debug({ peer: conn.peerId?.toString(), leg, err: code ?? err.message }, "connection error");
    }
  }

  private onAccept(raw: RawSocket): void {
    if (!this.deps.store.current) {
      // No SVID yet: there is nothing to present, so refuse before any TLS.
      this.m.rejected.not_ready.inc();
      raw.destroy();
      return;
    }
    raw[ACCEPTED_AT] = performance.now();
    this.tracker.add(raw);
    this.tls.emit("connection", raw);
  }

  private onSecure(socket: TLSSocket): void {
    // A resumed session carries the client's certificate from its full handshake: judged again like a new one.
    const resumed = socket.isSessionReused();
    const cert = socket.getPeerCertificate();
    if (!cert?.raw) return this.refuse(socket, resumed, "no_peer_certificate", "the client sent no certificate");
    if (!socket.authorized) {
      const code = String(socket.authorizationError);
      return this.refuse(socket, resumed, resultOfAuthorizationError(code), `certificate chain not trusted: ${code}`, cert.subjectaltname);
    }
    const verdict = this.deps.verifier.verify(cert);
    if (!verdict.ok) return this.refuse(socket, resumed, verdict.result, verdict.reason, verdict.claimed);
    const decision = this.deps.policy().decide(this.name, verdict.id);
    this.m.authz(decision).inc();
    if (decision.decision === "deny") {
      return this.refuse(socket, resumed, "wrong_peer", "the policy denies this peer", verdict.id.toString(), decision.rule);
    }
    this.m.handshakes.ok.inc();
    if (resumed) this.m.resumed.inc();
    this.observeDuration(socket);
    const { host, port } = this.deps.config.forward;
    const app = netConnect({ host, port, allowHalfOpen: true });
    this.established.add(splice(socket, app, this, this.deps.limits.idleTimeoutMs, verdict.id));
    this.m.active.inc();
    if (this.log.isLevelEnabled("debug")) this.log.debug({ peer: verdict.id.toString(), rule: decision.rule, resumed }, "accepted connection");
  }

  private onHandshakeError(err: Error, socket: TLSSocket): void {
    const code = (err as { code?: string }).code;
    const result: HandshakeResult = code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "timeout" : "protocol_error";
    this.m.handshakes[result].inc();
    this.log.info({ result, reason: code ?? err.message, remote: socket.remoteAddress }, "refused connection: TLS handshake failed");
    // With a tlsClientError listener Node leaves the socket open: close it here.
    socket.destroy();
  }

  private refuse(socket: TLSSocket, resumed: boolean, result: HandshakeResult, reason: string, peer?: string, rule?: string): void {
    this.m.handshakes[result].inc();
    this.observeDuration(socket);
    this.log.info({ result, reason, peer, rule, resumed, remote: socket.remoteAddress }, "refused connection");
    socket.destroy();
  }

  private observeDuration(socket: TLSSocket): void {
    // The TLS socket wraps the accepted socket, which carries the accept time.
    const raw = (socket as unknown as { _parent?: RawSocket })._parent;
    const start = raw?.[ACCEPTED_AT];
    if (start !== undefined) this.m.handshakeSeconds.observe((performance.now() - start) / 1000);
  }
}

/** Listens on `addr`; rejects with the bind error. */
export function listenOn(server: NetServer, addr: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(addr.port, addr.host, () => {
      server.off("error", onError);
      const bound = server.address();
      resolve({ host: addr.host, port: typeof bound === "object" && bound ? bound.port : addr.port });
    });
  });
}
