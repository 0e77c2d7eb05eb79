/**
 * The benchmark's application: one plaintext TCP port behind every target.
 * The first byte of a connection picks what it does, so every target needs
 * one listener only:
 *   'D'  source: writes 64 KiB blocks until the peer closes (download);
 *   'U'  sink: discards what follows; on the peer's end-of-stream answers
 *        16 bytes: bytes received (u64) and nanoseconds from first to last (u64);
 *   else echo: every byte back, including the first (handshake and latency tests).
 * A PROXY protocol v2 header in front (a sidecar with `proxyProtocol: v2`)
 * is skipped first; the mode byte is the first byte after it.
 *
 * Run as its own process: `node dist/bench/targets/backend.js` prints
 * `{"port": N}` on stdout once listening on 127.0.0.1.
 */
import { createServer, type Socket } from "node:net";

const BLOCK = Buffer.alloc(64 * 1024, 0x61);

function source(socket: Socket): void {
  const pump = (): void => {
    while (!socket.destroyed && socket.write(BLOCK));
  };
  socket.on("drain", pump);
  pump();
}

function sink(socket: Socket, first: Buffer): void {
  let bytes = first.length - 1;
  const start = process.hrtime.bigint();
  let last = start;
  socket.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    last = process.hrtime.bigint();
  });
  socket.on("end", () => {
    const answer = Buffer.alloc(16);
    answer.writeBigUInt64BE(BigInt(bytes), 0);
    answer.writeBigUInt64BE(last - start, 8);
    socket.end(answer);
  });
}

const PROXY_V2_SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

/** Calls `fn` with the connection's first bytes after a PROXY v2 header, if there is one. */
function afterProxyHeader(socket: Socket, fn: (first: Buffer) => void): void {
  let got: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const signed = got.subarray(0, PROXY_V2_SIGNATURE.length);
    if (!signed.equals(PROXY_V2_SIGNATURE.subarray(0, signed.length))) {
      socket.off("data", onData);
      return fn(got);
    }
    if (got.length < 16 || got.length <= 16 + got.readUInt16BE(14)) return; // the header, or nothing after it yet
    socket.off("data", onData);
    fn(got.subarray(16 + got.readUInt16BE(14)));
  };
  socket.on("data", onData);
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on("error", () => socket.destroy());
  afterProxyHeader(socket, (first: Buffer) => {
    const mode = first[0];
    if (mode === 0x44 /* D */) {
      source(socket);
    } else if (mode === 0x55 /* U */) {
      sink(socket, first);
    } else {
      socket.write(first);
      socket.on("data", (chunk: Buffer) => socket.write(chunk));
      socket.on("end", () => socket.end());
    }
  });
}

function main(): void {
  const server = createServer({ noDelay: true }, serve);
  server.maxConnections = 100_000;
  server.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_BACKEND_PORT ?? 0), backlog: 4096 }, () => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("backend: no TCP address");
    process.stdout.write(JSON.stringify({ port: address.port }) + "\n");
  });
  process.on("SIGTERM", () => process.exit(0));
}

main();
