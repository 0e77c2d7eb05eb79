/**
 * Every socket a listener accepted and has not yet closed, from accept
 * through handshake to the end of proxying: what a drain waits for and what
 * a forced shutdown destroys. The close handler is one module-level function
 * (the tracker is found through a symbol), so tracking allocates no closure.
 */
import type { Socket } from "node:net";
import type { Logger } from "../../lib/log.js";

const TRACKER = Symbol("tracker");
type Tracked = Socket & { [TRACKER]?: ConnectionTracker };

function onTrackedClose(this: Tracked): void {
  this[TRACKER]?.remove(this);
}

/** Drop warnings are logged at most this often, so a flood does not flood the log too. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** The open sockets of one listener. */
export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();
  private lastDropLog = 0;
  private dropsSinceLog = 0;

  get size(): number {
    return this.sockets.size;
  }

  add(socket: Socket): void {
    this.sockets.add(socket);
    (socket as Tracked)[TRACKER] = this;
    // `on`, not `once`: close fires once anyway, and `once` would allocate a wrapper per connection.
    socket.on("close", onTrackedClose);
  }

  remove(socket: Socket): void {
    this.sockets.delete(socket);
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Records a connection refused at maxConnections and warns now and then. */
  noteDrop(log: Logger, max: number): void {
    this.dropsSinceLog++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    log.warn({ maxConnections: max, refused: this.dropsSinceLog }, "refusing connections: limits.maxConnections reached");
    this.lastDropLog = now;
    this.dropsSinceLog = 0;
  }
}
