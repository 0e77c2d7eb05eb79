/**
 * An inbound listener: mutual TLS in, plaintext to the app.
 *
 * The accept loop (listener-base.ts: maxConnections, nothing before the
 * first SVID) hands each socket it lets in to a tls.Server that requests a
 * client certificate but does NOT let OpenSSL refuse it, so every refusal
 * is classified for mesh_sidecar_tls_handshakes_total. After
 * the handshake, in order: a certificate was sent; OpenSSL's chain check
 * against the bundle passed; the leaf passes every X.509-SVID rule and is in
 * our trust domain; the policy allows its ID. Only then is the app connection
 * opened: a refused peer never gets a byte to the app. A peer resuming a TLS
 * session goes through the same steps with the certificate of its session.
 *
 * On a listener in audit mode (policy `mode: audit`) a peer the policy would
 * deny is let through, logged at warn and counted as `audit_deny`. With
 * `proxyProtocol: v2` the app's first bytes are a PROXY v2 header saying who
 * called (proxy-protocol.ts), written before the splice starts piping.
 */
import { connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { HostPort } from "../../lib/net/address.js";
import { isConnectError } from "../../lib/net/connect-errors.js";
import type { SpiffeId } from "../../lib/spiffe/id.js";
import type { InboundListenerConfig } from "../config.js";
import type { HandshakeResult } from "../metrics.js";
import type { Policy } from "../policy/policy.js";
import type { PolicyStore } from "../policy/policy-store.js";
import { ListenerBase, type ListenerBaseDeps } from "./listener-base.js";
import { type PeerVerifier, resultOfAuthorizationError } from "./peer-verifier.js";
import { proxyV2Header } from "./proxy-protocol.js";
import type { SplicedConnection } from "./splice.js";
import { SplicedConnections } from "./spliced-connections.js";

/** What an inbound listener works with. */
export interface InboundDeps extends ListenerBaseDeps {
  readonly config: InboundListenerConfig;
  readonly verifier: PeerVerifier;
  /** The policy in force; read on every connection so a reload applies at once. */
  readonly policies: PolicyStore;
}

const ACCEPTED_AT = Symbol("acceptedAt");
type RawSocket = Socket & { [ACCEPTED_AT]?: number };

/** The warn line of a peer an audit listener lets through. */
const AUDIT_MESSAGE = "audit: the policy would deny this peer";

/** An inbound listener; create with `new`, then `listen()`. */
export class InboundListener extends ListenerBase {
  private readonly tls: TlsServer;
  private readonly established: SplicedConnections;
  /** Open connections an audit listener let through although the policy would deny them (reported once, not at every reload). */
  private readonly auditDenied = new WeakSet<SplicedConnection>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: InboundDeps) {
    super(deps, "inbound");
    this.established = new SplicedConnections(this.metrics.active, (conn, leg, err) => this.onLegError(conn, leg, err));
    this.tls = createTlsServer({
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: deps.limits.handshakeTimeoutMs,
      allowHalfOpen: true,
    });
    this.tls.on("secureConnection", (socket: TLSSocket) => this.onSecure(socket));
    this.tls.on("tlsClientError", (err: Error, socket: TLSSocket) => this.onHandshakeError(err, socket));
  }

  /** Binds the listen address; new handshakes use whatever credentials are current. */
  override async listen(): Promise<HostPort> {
    this.unsubscribe = this.deps.store.subscribe((active) => this.tls.setSecureContext(active.serverOptions));
    return super.listen();
  }

  /** Stops accepting; open connections continue. */
  override stopAccepting(): void {
    this.unsubscribe?.();
    super.stopAccepting();
  }

  /**
   * Re-authorizes established connections under `policy`; closes those now
   * denied. On an audit listener nothing is closed: a connection that turns
   * `audit_deny` is logged and counted once. Returns how many were closed.
   */
  recheck(policy: Policy): number {
    let closed = 0;
    for (const conn of this.established) {
      const decision = policy.decide(this.name, conn.peerId);
      if (decision.decision === "allow") {
        this.auditDenied.delete(conn);
        continue;
      }
      if (decision.decision === "audit_deny") {
        if (this.auditDenied.has(conn)) continue;
        this.auditDenied.add(conn);
        this.metrics.authz(decision).inc();
        this.log.warn({ peer: conn.peerId.toString(), rule: decision.rule, reason: "policy_reload" }, AUDIT_MESSAGE);
        continue;
      }
      this.metrics.authz(decision).inc();
      this.log.info({ peer: conn.peerId.toString(), rule: decision.rule, reason: "policy_reload" }, "closing connection: the reloaded policy denies its peer");
      conn.destroy();
      closed++;
    }
    return closed;
  }

  protected destroyEstablished(): void {
    this.established.destroyAll();
  }

  protected onConnection(raw: RawSocket): void {
    raw[ACCEPTED_AT] = performance.now();
    this.tls.emit("connection", raw);
  }

  private onLegError(conn: SplicedConnection, leg: "peer" | "app", err: Error): void {
    const code = (err as { code?: string }).code;
    if (leg === "app" && isConnectError(code)) {
      this.log.warn({ peer: conn.peerId.toString(), forward: `${this.deps.config.forward.host}:${this.deps.config.forward.port}`, err: code }, "cannot reach the app at the forward address; closing the peer connection");
    } else {
      this.log.debug({ peer: conn.peerId.toString(), leg, err: code ?? err.message }, "connection error");
    }
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
    const decision = this.deps.policies.current.decide(this.name, verdict.id);
    this.metrics.authz(decision).inc();
    if (decision.decision === "deny") {
      return this.refuse(socket, resumed, "wrong_peer", "the policy denies this peer", verdict.id.toString(), decision.rule);
    }
    const audited = decision.decision === "audit_deny";
    if (audited) this.log.warn({ peer: verdict.id.toString(), rule: decision.rule, resumed }, AUDIT_MESSAGE);
    this.metrics.handshakes.ok.inc();
    if (resumed) this.metrics.resumed.inc();
    this.observeDuration(socket);
    const header = this.deps.config.proxyProtocol === "v2" ? this.proxyHeader(socket, verdict.id, resumed) : undefined;
    if (header === null) {
      socket.destroy();
      return;
    }
    const { host, port } = this.deps.config.forward;
    const app = netConnect({ host, port, allowHalfOpen: true });
    // Queued before the splice pipes anything: the header is the app's first write, the peer's bytes follow it.
    if (header) app.write(header);
    const conn = this.established.add(socket, app, this.deps.limits.idleTimeoutMs, verdict.id);
    if (audited) this.auditDenied.add(conn);
    if (this.log.isLevelEnabled("debug")) this.log.debug({ peer: verdict.id.toString(), rule: decision.rule, resumed }, "accepted connection");
  }

  /**
   * The PROXY v2 header of an accepted connection; null when there is none to
   * send: the peer left between the handshake and here (its addresses are
   * gone, and so is the reason to reach the app), or the header cannot be
   * built (it always can: the writer's bounds hold for every SPIFFE ID).
   */
  private proxyHeader(socket: TLSSocket, peerId: SpiffeId, resumed: boolean): Buffer | null {
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return null;
    try {
      return proxyV2Header({
        source: { address: remoteAddress, port: remotePort },
        destination: { address: localAddress, port: localPort },
        tlsVersion: socket.getProtocol() ?? "",
        cipher: socket.getCipher().name,
        resumed,
        peerId: peerId.toString(),
      });
    } catch (err) {
      this.log.error({ peer: peerId.toString(), err: (err as Error).message }, "cannot build the PROXY v2 header; closing the connection");
      return null;
    }
  }

  private onHandshakeError(err: Error, socket: TLSSocket): void {
    const code = (err as { code?: string }).code;
    const result: HandshakeResult = code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "timeout" : "protocol_error";
    this.metrics.handshakes[result].inc();
    this.log.info({ result, reason: code ?? err.message, remote: socket.remoteAddress }, "refused connection: TLS handshake failed");
    // With a tlsClientError listener Node leaves the socket open: close it here.
    socket.destroy();
  }

  private refuse(socket: TLSSocket, resumed: boolean, result: HandshakeResult, reason: string, peer?: string, rule?: string): void {
    this.metrics.handshakes[result].inc();
    this.observeDuration(socket);
    this.log.info({ result, reason, peer, rule, resumed, remote: socket.remoteAddress }, "refused connection");
    socket.destroy();
  }

  private observeDuration(socket: TLSSocket): void {
    // The TLS socket wraps the accepted socket, which carries the accept time.
    const raw = (socket as unknown as { _parent?: RawSocket })._parent;
    const start = raw?.[ACCEPTED_AT];
    if (start !== undefined) this.metrics.handshakeSeconds.observe((performance.now() - start) / 1000);
  }
}

