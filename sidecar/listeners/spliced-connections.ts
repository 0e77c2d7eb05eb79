/**
 * The proxied connections of one listener: each is spliced (splice.ts),
 * counted in the listener's active-connections gauge while both legs are
 * open, and destroyed with the others at the end of a drain. A listener
 * kind that proxies bytes owns one and says what a leg's error means to it.
 */
import type { Socket } from "node:net";
import type { SpiffeId } from "../../lib/spiffe/id.js";
import type { ListenerMetrics } from "../metrics.js";
import { splice, type SplicedConnection, type SpliceOwner } from "./splice.js";

/** What a listener kind does with a leg's error (the connection is being destroyed anyway). */
export type LegErrorHandler = (conn: SplicedConnection, leg: "peer" | "app", err: Error) => void;

/** The open spliced connections of one listener. */
export class SplicedConnections implements SpliceOwner, Iterable<SplicedConnection> {
  private readonly open = new Set<SplicedConnection>();

  constructor(
    private readonly active: ListenerMetrics["active"],
    private readonly onLegError: LegErrorHandler,
  ) {}

  /** Splices the authenticated TLS leg `peer` with `app` (which may still be connecting); returns the connection. */
  add(peer: Socket, app: Socket, idleTimeoutMs: number, peerId: SpiffeId): SplicedConnection {
    const conn = splice(peer, app, this, idleTimeoutMs, peerId);
    this.open.add(conn);
    this.active.inc();
    return conn;
  }

  /** Destroys every open connection, both legs. */
  destroyAll(): void {
    for (const conn of this.open) conn.destroy();
  }

  [Symbol.iterator](): Iterator<SplicedConnection> {
    return this.open.values();
  }

  spliceClosed(conn: SplicedConnection): void {
    if (this.open.delete(conn)) this.active.dec();
  }

  spliceError(conn: SplicedConnection, leg: "peer" | "app", err: Error): void {
    this.onLegError(conn, leg, err);
  }
}
