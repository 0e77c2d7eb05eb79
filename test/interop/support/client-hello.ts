/**
 * A canned ClientHello replayed over raw TCP, as an attacker would send it:
 * no TLS library, no cryptography on the client's side, so whatever CPU the
 * exchange costs is the server's. The fixture and how it was captured:
 * test/fixtures/ffdhe8192-client-hello.hex.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";

/** The ffdhe8192-only ClientHello (one TLS record) of test/fixtures/. */
export function ffdhe8192ClientHello(): Buffer {
  const text = readFileSync(new URL("../../fixtures/ffdhe8192-client-hello.hex", import.meta.url), "utf8");
  return Buffer.from(
    text
      .split("\n")
      .filter((line) => !line.startsWith("#"))
      .join("")
      .trim(),
    "hex",
  );
}

/** How a server answered a replayed ClientHello: its first record's type, or no record at all. */
export type ReplayAnswer = "alert" | "handshake" | "other record" | "closed without a record" | "no answer";

/** Sends `hello` on a new connection to `hostPort` and reports the first thing that came back; then closes. */
export function replayClientHello(hostPort: string, hello: Buffer, timeoutMs = 5_000): Promise<ReplayAnswer> {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(":")), Number(hostPort.slice(hostPort.lastIndexOf(":") + 1))];
  return new Promise((resolve) => {
    const socket = connect(port, host, () => socket.write(hello));
    const timer = setTimeout(() => finish("no answer"), timeoutMs);
    const finish = (answer: ReplayAnswer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    // TLS record content types (RFC 8446 §5.1): 21 alert, 22 handshake.
    socket.once("data", (chunk: Buffer) => finish(chunk[0] === 21 ? "alert" : chunk[0] === 22 ? "handshake" : "other record"));
    socket.once("error", () => finish("closed without a record"));
    socket.once("close", () => finish("closed without a record"));
  });
}

/** Named groups (RFC 8446 §4.2.7) a ClientHello lists in supported_groups, and the groups of its key shares with their sizes. */
export function offeredGroups(hello: Buffer): { supported: number[]; keyShares: { group: number; bytes: number }[] } {
  // record header (5) + handshake header (4) + version (2) + random (32)
  let at = 5 + 4 + 2 + 32;
  at += 1 + (hello[at] as number); // session id
  at += 2 + hello.readUInt16BE(at); // cipher suites
  at += 1 + (hello[at] as number); // compression methods
  const end = at + 2 + hello.readUInt16BE(at);
  at += 2;
  const out = { supported: [] as number[], keyShares: [] as { group: number; bytes: number }[] };
  while (at < end) {
    const type = hello.readUInt16BE(at);
    const length = hello.readUInt16BE(at + 2);
    const body = hello.subarray(at + 4, at + 4 + length);
    if (type === 10) for (let i = 2; i < body.length; i += 2) out.supported.push(body.readUInt16BE(i));
    if (type === 51) {
      for (let i = 2; i < body.length; ) {
        const bytes = body.readUInt16BE(i + 2);
        out.keyShares.push({ group: body.readUInt16BE(i), bytes });
        i += 4 + bytes;
      }
    }
    at += 4 + length;
  }
  return out;
}
