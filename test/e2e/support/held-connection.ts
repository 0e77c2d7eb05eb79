/**
 * One long-lived plain HTTP/1.1 connection to an outbound listener, kept
 * open between requests, so a test can see whether the mesh cut it.
 */
import { connect, type Socket } from "node:net";
import { splitHostPort } from "./clients.js";

/** A keep-alive connection that sends requests one at a time. */
export class HeldConnection {
  /** Resolves when the connection closes, for any reason. */
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private buffer = "";
  private waiting: ((text: string) => void) | undefined;
  private isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      this.deliver();
    });
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true;
        resolve();
      }),
    );
    socket.on("error", () => undefined);
  }

  /** Opens the connection. */
  static open(hostPort: string): Promise<HeldConnection> {
    const [host, port] = splitHostPort(hostPort);
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off("error", reject);
        resolve(new HeldConnection(socket));
      });
      socket.once("error", reject);
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends GET PATH and resolves with the status code; rejects if the connection closes first. */
  get(path: string, timeoutMs = 5_000): Promise<number> {
    if (this.isClosed) return Promise.reject(new Error("connection is closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${path} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = (head) => {
        clearTimeout(timer);
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0));
      };
      void this.closed.then(() => {
        clearTimeout(timer);
        reject(new Error(`connection closed before the answer to ${path}`));
      });
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: orders\r\n\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Hands one complete response (headers plus content-length body) to the waiting request. */
  private deliver(): void {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.slice(0, end);
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    this.buffer = this.buffer.slice(end + 4 + length);
    const w = this.waiting;
    this.waiting = undefined;
    w(head);
  }
}
