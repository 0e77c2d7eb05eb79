/**
 * Joins two sockets into one proxied connection: bytes flow with `pipe()`
 * both ways (backpressure included, no JavaScript per byte beyond Node's own
 * stream plumbing), half-close propagates (end → end, both sockets opened
 * with allowHalfOpen), an error or idle timeout on either leg destroys both.
 *
 * Per-connection memory is one small record and two symbol properties: the
 * event handlers are module-level functions that find the record through
 * `this`, so no closures are allocated per connection.
 */
import type { Socket } from "node:net";
import type { SpiffeId } from "../../lib/spiffe/id.js";

const RECORD = Symbol("splice");

/** Who wants to hear about a spliced connection's end and errors. */
export interface SpliceOwner {
  /** Both legs have closed. */
  spliceClosed(conn: SplicedConnection): void;
  /** A leg failed (connect refused, reset...); both legs are being destroyed. */
  spliceError(conn: SplicedConnection, leg: "peer" | "app", err: Error): void;
}

/** One proxied connection: the TLS leg (`peer`) and the plaintext leg (`app`). */
export class SplicedConnection {
  closedLegs = 0;
  constructor(
    readonly peer: Socket,
    readonly app: Socket,
    readonly owner: SpliceOwner,
    /** The SPIFFE ID the TLS leg's peer authenticated as (re-checked on an inbound policy reload). */
    readonly peerId: SpiffeId,
  ) {}

  /** Closes both legs at once (policy now denies the peer, drain grace is over). */
  destroy(): void {
    this.peer.destroy();
    this.app.destroy();
  }
}

type Leg = Socket & { [RECORD]?: SplicedConnection };

function recordOf(socket: Socket): SplicedConnection {
  return (socket as Leg)[RECORD] as SplicedConnection;
}

function onLegError(this: Socket, err: Error): void {
  const conn = recordOf(this);
  conn.owner.spliceError(conn, this === conn.peer ? "peer" : "app", err);
  conn.destroy();
}

function onLegTimeout(this: Socket): void {
  recordOf(this).destroy();
}

function onLegClose(this: Socket): void {
  const conn = recordOf(this);
  // A leg that closed before its peer sent FIN was cut off (reset, destroy): cut the other too.
  // A leg that closed after a clean end leaves the other to flush what it holds and end on its own.
  if (!this.readableEnded) {
    const other = this === conn.peer ? conn.app : conn.peer;
    other.destroy();
  }
  conn.closedLegs++;
  if (conn.closedLegs === 2) conn.owner.spliceClosed(conn);
}

/**
 * Splices `peer` and `app` (the app socket may still be connecting: writes
 * queue until it connects, and pipe's backpressure bounds the queue).
 */
export function splice(peer: Socket, app: Socket, owner: SpliceOwner, idleTimeoutMs: number, peerId: SpiffeId): SplicedConnection {
  const conn = new SplicedConnection(peer, app, owner, peerId);
  for (const leg of [peer, app] as Leg[]) {
    leg[RECORD] = conn;
    leg.on("error", onLegError);
    leg.on("close", onLegClose);
    leg.on("timeout", onLegTimeout);
    leg.setNoDelay(true);
    leg.setTimeout(idleTimeoutMs);
  }
  peer.pipe(app);
  app.pipe(peer);
  return conn;
}
