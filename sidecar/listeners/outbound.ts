/**
 * An outbound listener: plaintext from the app (on loopback by default),
 * mutual TLS to an upstream sidecar with our current SVID. The upstream must
 * present a chain to our bundle, a leaf that passes every X.509-SVID rule for
 * a server, and an ID matching `expectedPeer`. There is no DNS host name
 * check: SVIDs carry no DNS name; the SPIFFE ID is the identity. Otherwise
 * both connections are closed and nothing of the app's reaches the upstream.
 * With tls.sessionResumption the last accepted upstream's session is offered
 * again (session-cache.ts); a resumed upstream passes the same checks.
 */
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from "node:tls";
import { formatHostPort } from "../../lib/net/address.js";
import { isConnectError } from "../../lib/net/connect-errors.js";
import type { OutboundListenerConfig } from "../config.js";
import type { ActiveCredentials } from "../credentials/credential-store.js";
import type { HandshakeResult } from "../metrics.js";
import { ListenerBase, type ListenerBaseDeps } from "./listener-base.js";
import { type AcceptedPeer, type PeerVerdict, type PeerVerifier, type RefusedPeer, resultOfAuthorizationError } from "./peer-verifier.js";
import { type OfferedSession, SessionCache } from "./session-cache.js";
import { SplicedConnections } from "./spliced-connections.js";
import { SESSION_LIFETIME_S } from "./tls-options.js";

/** What an outbound listener works with. */
export interface OutboundDeps extends ListenerBaseDeps {
  readonly config: OutboundListenerConfig;
  readonly verifier: PeerVerifier;
  /** Offer the last accepted upstream's TLS session again (tls.sessionResumption). */
  readonly sessionResumption: boolean;
  /** The sidecar's clock, for how long a kept session may be offered. */
  readonly now: () => number;
}

const noHostnameCheck = (): undefined => undefined;

/** One outbound connection's state between connect and the session ticket. */
interface Attempt {
  /** The credentials the connection was opened with: a kept session belongs to them. */
  readonly credentials: ActiveCredentials;
  /** The session offered to the upstream, with the verdict on its upstream. */
  readonly offered: OfferedSession | undefined;
  /** The upstream's verdict once accepted. */
  accepted: AcceptedPeer | undefined;
  /** A ticket that arrived before the upstream was judged (TLS 1.2). */
  ticket: Buffer | undefined;
}

/** Why an upstream is refused before its leaf is judged. */
type Refusal = Pick<RefusedPeer, "ok" | "result" | "reason" | "claimed">;

function refusal(result: HandshakeResult, reason: string, claimed?: string): Refusal {
  return { ok: false, result, reason, claimed };
}

/** An outbound listener; create with `new`, then `listen()`. */
export class OutboundListener extends ListenerBase {
  private readonly established: SplicedConnections;
  private readonly sessions: SessionCache | undefined;

  constructor(private readonly deps: OutboundDeps) {
    super(deps, "outbound", { upstream: formatHostPort(deps.config.upstream) });
    this.sessions = deps.sessionResumption ? new SessionCache(SESSION_LIFETIME_S * 1000) : undefined;
    this.established = new SplicedConnections(this.metrics.active, (_conn, leg, err) => {
      this.log.debug({ leg, err: (err as { code?: string }).code ?? err.message }, "connection error");
    });
  }

  protected destroyEstablished(): void {
    this.established.destroyAll();
  }

  protected onConnection(app: Socket, active: ActiveCredentials): void {
    const start = performance.now();
    const { host, port } = this.deps.config.upstream;
    const offered = this.sessions?.offer(active, this.deps.now());
    const upstream = tlsConnect(<ConnectionOptions>{
      host,
      port,
      secureContext: active.clientContext, // carries minVersion and the suites
      // We judge the upstream ourselves below, by SPIFFE ID, to count the precise cause.
      rejectUnauthorized: false,
      checkServerIdentity: noHostnameCheck,
      // Passed through to the TLSSocket by tls.connect, though @types/node omits it.
      allowHalfOpen: true,
      ...(offered ? { session: offered.session } : {}),
    });
    const attempt: Attempt = { credentials: active, offered, accepted: undefined, ticket: undefined };
    if (this.sessions) upstream.on("session", (ticket: Buffer) => this.onTicket(attempt, ticket));
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
      this.onSecure(app, upstream, start, attempt);
    });
  }

  private onSecure(app: Socket, upstream: TLSSocket, start: number, attempt: Attempt): void {
    if (app.destroyed) {
      upstream.destroy();
      return;
    }
    const resumed = upstream.isSessionReused();
    const peer = resumed ? this.judgeResumed(upstream, attempt.offered) : this.judgeFull(upstream);
    if (!peer.ok) return this.refuse(app, upstream, peer.result, peer.reason, resumed, peer.claimed);
    if (!this.deps.config.expectedPeer.matches(peer.id)) {
      return this.refuse(app, upstream, "wrong_peer", `upstream is not ${this.deps.config.expectedPeer.source}`, resumed, peer.id.toString());
    }
    this.metrics.handshakes.ok.inc();
    if (resumed) this.metrics.resumed.inc();
    this.metrics.handshakeSeconds.observe((performance.now() - start) / 1000);
    attempt.accepted = peer;
    // Under TLS 1.2 the ticket arrives inside the handshake, before we judged the upstream.
    if (attempt.ticket) this.onTicket(attempt, attempt.ticket);
    this.established.add(upstream, app, this.deps.limits.idleTimeoutMs, peer.id);
    if (this.log.isLevelEnabled("debug")) this.log.debug({ peer: peer.id.toString(), resumed }, "connected to upstream");
  }

  /** The upstream of a full handshake: OpenSSL's chain check, then the SVID rules (cached per certificate). */
  private judgeFull(upstream: TLSSocket): PeerVerdict | Refusal {
    const cert = upstream.getPeerCertificate();
    if (!cert?.raw) return refusal("no_peer_certificate", "the upstream sent no certificate");
    if (!upstream.authorized) {
      const code = String(upstream.authorizationError);
      return refusal(resultOfAuthorizationError(code), `upstream certificate chain not trusted: ${code}`, cert.subjectaltname);
    }
    return this.deps.verifier.verify(cert);
  }

  /**
   * The upstream of a resumed session. Node's client side cannot read the
   * peer certificate of a resumed session, and needs not: we offered exactly
   * one session, and the upstream could only resume it by proving it holds
   * that session's secret, so it is the upstream we accepted when we kept
   * the session. Its verdict is judged again at this moment: validity window
   * now, and expectedPeer (in onSecure).
   */
  private judgeResumed(upstream: TLSSocket, offered: OfferedSession | undefined): PeerVerdict | Refusal {
    if (!offered) return refusal("protocol_error", "the upstream resumed a session we did not offer");
    if (!upstream.authorized) return refusal(resultOfAuthorizationError(upstream.authorizationError), "the resumed session's chain was not trusted");
    const now = this.deps.now();
    const { peer } = offered;
    if (now < peer.notBefore || now > peer.notAfter) return refusal("expired", "the upstream certificate of the resumed session is outside its validity period", peer.id.toString());
    return peer;
  }

  /** A session ticket from the upstream: kept once (and only if) the upstream was accepted. */
  private onTicket(attempt: Attempt, ticket: Buffer): void {
    if (attempt.accepted === undefined) {
      attempt.ticket = ticket;
      return;
    }
    attempt.ticket = undefined;
    this.sessions?.keep(ticket, attempt.credentials, attempt.accepted, this.deps.now());
  }

  private failBeforeSplice(app: Socket, upstream: TLSSocket, err: Error): void {
    const code = (err as { code?: string }).code ?? "";
    if (upstream.connecting || isConnectError(code)) {
      // The upstream was never reached: not a TLS handshake, so not counted as one.
      this.log.warn({ err: code || err.message }, "cannot reach the upstream; closing the app connection");
      upstream.destroy();
      app.destroy();
      return;
    }
    this.refuse(app, upstream, "protocol_error", `TLS handshake with the upstream failed: ${code || err.message}`);
  }

  private refuse(app: Socket, upstream: TLSSocket, result: HandshakeResult, reason: string, resumed = false, peer?: string | undefined): void {
    this.metrics.handshakes[result].inc();
    // Whatever was wrong, the next connection starts from a full handshake.
    this.sessions?.forget();
    this.log.warn({ result, reason, peer, resumed, expectedPeer: this.deps.config.expectedPeer.source }, "refused upstream connection");
    upstream.destroy();
    app.destroy();
  }
}
