/**
 * The start of every connection, whatever the kind of listener: a plain
 * net.Server accepts, holds limits.maxConnections (counting, and now and
 * then logging, what it drops), refuses everything before the first SVID
 * (there is nothing to present yet), and tracks each socket it lets in
 * until that socket closes, for a drain to wait on and a shutdown to
 * destroy.
 *
 * A kind of listener extends this with what happens to a socket once it is
 * let in (`onConnection`) and with the connections it opens itself
 * (`destroyEstablished`): inbound hands the socket to a TLS server, outbound
 * opens mTLS to its upstream. An HTTP kind would hand it to an http.Server.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { formatHostPort, type HostPort } from "../../lib/net/address.js";
import { listenOn } from "../../lib/net/listen.js";
import type { Logger } from "../../lib/log.js";
import type { LimitsConfig } from "../config.js";
import type { ActiveCredentials, CredentialStore } from "../credentials/credential-store.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";
import type { Direction, ListenerMetrics, SidecarMetrics } from "../metrics.js";
import { ConnectionTracker } from "./connection-tracker.js";

/** What every listener works with, whatever its kind. */
export interface ListenerBaseDeps {
  /** The listener's entry in the config: its name (in metrics and logs) and where it listens. */
  readonly config: { readonly name: string; readonly listen: HostPort };
  readonly limits: LimitsConfig;
  readonly store: CredentialStore;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
}

/** A listener of some kind; the kind is the subclass. Create with `new`, then `listen()`. */
export abstract class ListenerBase {
  readonly name: string;
  /** This listener's metric children, bound once. */
  protected readonly metrics: ListenerMetrics;
  /** The log with this listener's fields. */
  protected readonly log: Logger;
  private readonly server: NetServer;
  private readonly tracker = new ConnectionTracker();
  private bound: HostPort | undefined;

  protected constructor(
    private readonly base: ListenerBaseDeps,
    readonly direction: Direction,
    logFields: Readonly<Record<string, string>> = {},
  ) {
    this.name = base.config.name;
    this.metrics = base.metrics.forListener(this.name, direction);
    this.log = base.log.child({ listener: this.name, direction, ...logFields });
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.admit(socket));
    this.server.maxConnections = base.limits.maxConnections;
    this.server.on("drop", () => {
      this.metrics.rejected.max_connections.inc();
      this.tracker.noteDrop(this.log, base.limits.maxConnections);
    });
  }

  /**
   * What happens to a socket that was let in: the credentials in force
   * existed at accept, and the socket is tracked until it closes.
   */
  protected abstract onConnection(socket: Socket, credentials: ActiveCredentials): void;

  /** Destroys the connections this kind opened beyond the accepted sockets (e.g. the app legs). */
  protected abstract destroyEstablished(): void;

  /** Binds the listen address; throws SidecarError LISTEN_FAILED when it cannot. */
  async listen(): Promise<HostPort> {
    const configured = this.base.config.listen;
    this.bound = await listenOn(this.server, configured).catch((err: Error) => {
      throw new SidecarError(SidecarErrorCode.LISTEN_FAILED, `listener ${this.name} cannot listen on ${formatHostPort(configured)}: ${err.message}`);
    });
    // After binding, server errors are accept failures (e.g. EMFILE): log them, keep serving.
    this.server.on("error", (err: Error) => this.log.error({ err: (err as { code?: string }).code ?? err.message }, "accepting a connection failed"));
    return this.bound;
  }

  /** The bound address (after listen). */
  get address(): HostPort {
    if (!this.bound) throw new Error(`${this.direction} listener ${this.name} is not listening`);
    return this.bound;
  }

  /** Accepted connections still open, in handshake or proxying. */
  get openConnections(): number {
    return this.tracker.size;
  }

  /** Stops accepting; open connections continue. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Destroys every open connection (end of drain, shutdown). */
  destroyAll(): void {
    this.destroyEstablished();
    this.tracker.destroyAll();
  }

  private admit(socket: Socket): void {
    const credentials = this.base.store.current;
    if (!credentials) {
      this.metrics.rejected.not_ready.inc();
      socket.destroy();
      return;
    }
    this.tracker.add(socket);
    this.onConnection(socket, credentials);
  }
}
