/**
 * An outbound listener: plaintext from the app (on loopback by default),
 * mutual TLS to an upstream sidecar with our current SVID. The upstream must
 * present a chain to our bundle, a leaf that passes every X.509-SVID rule for
 * a server, and an ID matching `expectedPeer`. There is no DNS host name
 * check: SVIDs carry no DNS name; the SPIFFE ID is the identity. Otherwise
 * both connections are closed and nothing of the app's reaches the upstream.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from "node:tls";
import { formatHostPort, type HostPort } from "../lib/net/address.js";
import type { Logger } from "../lib/log.js";
import type { LimitsConfig, OutboundListenerConfig, TlsMinVersion } from "./config.js";
import { ConnectionTracker } from "./connection-tracker.js";
import type { CredentialStore } from "./credentials.js";
import { listenOn } from "./inbound.js";
import type { HandshakeResult, ListenerMetrics, SidecarMetrics } from "./metrics.js";
import { resultOfAuthorizationError, type PeerVerifier } from "./peer-verifier.js";
import { splice, type SplicedConnection, type SpliceOwner } from "./splice.js";

/**
 * Where TLS session resumption to upstreams will plug in (a later
 * performance item). A resumed session skips most handshake work, but the
 * upstream's certificate from the session is still run through the verifier
 * (expiry included) and `expectedPeer` on every connection.
 */
export interface TlsSessionStore {
  get(upstream: string): Buffer | undefined;
  set(upstream: string, session: Buffer): void;
}

/** What an outbound listener works with. */
export interface OutboundDeps {
  readonly config: OutboundListenerConfig;
  readonly limits: LimitsConfig;
  readonly minVersion: TlsMinVersion;
  readonly store: CredentialStore;
  readonly verifier: PeerVerifier;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** Off by default: every connection makes a full handshake. */
  readonly sessions?: TlsSessionStore;
}

const noHostnameCheck = (): undefined => undefined;

/** An outbound listener; create with `new`, then `listen()`. */
export class OutboundListener implements SpliceOwner {
  readonly name: string;
  private readonly net: NetServer;
  private readonly m: ListenerMetrics;
  private readonly log: Logger;
  private readonly tracker = new ConnectionTracker();
  private readonly established = new Set<SplicedConnection>();
  private readonly upstreamKey: string;
  private bound: HostPort | undefined;

  constructor(private readonly deps: OutboundDeps) {
    this.name = deps.config.name;
    this.upstreamKey = formatHostPort(deps.config.upstream);
    this.m = deps.metrics.forListener(this.name, "outbound");
    this.log = deps.log.child({ listener: this.name, direction: "outbound", upstream: this.upstreamKey });
    this.net = createNetServer({ allowHalfOpen: true, noDelay: true }, (app) => this.onAccept(app));
    this.net.maxConnections = deps.limits.maxConnections;
    this.net.on("drop", () => {
      this.m.rejected.max_connections.inc();
      this.tracker.noteDrop(this.log, deps.limits.maxConnections);
    });
  }

  async listen(): Promise<HostPort> {
    this.bound = await listenOn(this.net, this.deps.config.listen);
    // After binding, server errors are accept failures (e.g. EMFILE): log them, keep serving.
    this.net.on("error", (err: Error) => this.log.error({ err: (err as { code?: string }).code ?? err.message }, "accepting a connection failed"));
    return this.bound;
  }

  get address(): HostPort {
    if (!this.bound) throw new Error(`outbound listener ${this.name} is not listening`);
    return this.bound;
  }

  get openConnections(): number {
    return this.tracker.size;
  }

  stopAccepting(): void {
    if (this.net.listening) this.net.close();
  }

  destroyAll(): void {
    for (const conn of this.established) conn.destroy();
    this.tracker.destroyAll();
  }

  spliceClosed(conn: SplicedConnection): void {
    if (this.established.delete(conn)) this.m.active.dec();
  }

  spliceError(_conn: SplicedConnection, leg: "peer" | "app", err: Error): void {
    this.log.debug({ leg, err: (err as { code?: string }).code ?? err.message }, "connection error");
  }

  private onAccept(app: Socket): void {
    const active = this.deps.store.current;
    if (!active) {
      this.m.rejected.not_ready.inc();
      app.destroy();
      return;
    }
    this.tracker.add(app);
    const start = performance.now();
    const { host, port } = this.deps.config.upstream;
    const session = this.deps.sessions?.get(this.upstreamKey);
    const upstream = tlsConnect(<ConnectionOptions>{
      host,
      port,
      secureContext: active.clientContext, // carries minVersion and the suites
      // We judge the upstream ourselves below, by SPIFFE ID, to count the precise cause.
      rejectUnauthorized: false,
      checkServerIdentity: noHostnameCheck,
      // Passed through to the TLSSocket by tls.connect, though @types/node omits it.
      allowHalfOpen: true,
      ...(session ? { session } : {}),
    });
    if (this.deps.sessions) upstream.on("session", (s: Buffer) => this.deps.sessions?.set(this.upstreamKey, s));
    const onEarlyError = (err: Error): void => this.failBeforeSplice(app, upstream, err);
    const onHandshakeTimeout = (): void => this.refuse(app, upstream, "timeout", `no TLS handshake within ${this.deps.limits.handshakeTimeoutMs} ms`);
    const onAppGone = (): void => {
      upstream.destroy();
    };
    upstream.on("error", onEarlyError);
    upstream.setTimeout(this.deps.limits.handshakeTimeoutMs, onHandshakeTimeout);
    app.on("error", onAppGone);
    app.once("close", onAppGone);
    upstream.once("secureConnect", () => {
      upstream.off("error", onEarlyError);
      upstream.off("timeout", onHandshakeTimeout);
      app.off("error", onAppGone);
      app.off("close", onAppGone);
      this.onSecure(app, upstream, start);
    });
  }

  private onSecure(app: Socket, upstream: TLSSocket, start: number): void {
    if (app.destroyed) {
      upstream.destroy();
      return;
    }
    const cert = upstream.getPeerCertificate();
    if (!cert?.raw) return this.refuse(app, upstream, "no_peer_certificate", "the upstream sent no certificate");
    if (!upstream.authorized) {
      const code = String(upstream.authorizationError);
      return this.refuse(app, upstream, resultOfAuthorizationError(code), `upstream certificate chain not trusted: ${code}`, cert.subjectaltname);
    }
    const verdict = this.deps.verifier.verify(cert);
    if (!verdict.ok) return this.refuse(app, upstream, verdict.result, verdict.reason, verdict.claimed);
    if (!this.deps.config.expectedPeer.matches(verdict.id)) {
      return this.refuse(app, upstream, "wrong_peer", `upstream is not ${this.deps.config.expectedPeer.source}`, verdict.id.toString());
    }
    this.m.handshakes.ok.inc();
    this.m.handshakeSeconds.observe((performance.now() - start) / 1000);
    this.established.add(splice(upstream, app, this, this.deps.limits.idleTimeoutMs));
    this.m.active.inc();
    if (this.log.isLevelEnabled("debug")) this.log.debug({ peer: verdict.id.toString() }, "connected to upstream");
  }

  private failBeforeSplice(app: Socket, upstream: TLSSocket, err: Error): void {
    const code = (err as { code?: string }).code ?? "";
    if (upstream.connecting || code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "ETIMEDOUT") {
      // The upstream was never reached: not a TLS handshake, so not counted as one.
      this.log.warn({ err: code || err.message }, "cannot reach the upstream; closing the app connection");
      upstream.destroy();
      app.destroy();
      return;
    }
    this.refuse(app, upstream, "protocol_error", `TLS handshake with the upstream failed: ${code || err.message}`);
  }

  private refuse(app: Socket, upstream: TLSSocket, result: HandshakeResult, reason: string, peer?: string): void {
    this.m.handshakes[result].inc();
    this.log.warn({ result, reason, peer, expectedPeer: this.deps.config.expectedPeer.source }, "refused upstream connection");
    upstream.destroy();
    app.destroy();
  }
}
