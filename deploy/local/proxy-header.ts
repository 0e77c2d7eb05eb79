/**
 * The sample app's side of `proxyProtocol: v2`: reads the PROXY protocol v2
 * header (haproxy's doc/proxy-protocol.txt) its sidecar sends first on every
 * connection, as any PROXY-aware app would, and keeps who called: the
 * caller's SPIFFE ID (TLV 0xE0), address, and TLS facts (TLV 0x20). A
 * connection that does not start with a well-formed header is refused: an
 * app that trusts the header must not take a connection without one.
 */
import type { Socket } from "node:net";

const SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;
/** Set when the client presented its certificate on this connection: clear on a resumed session. */
const PP2_CLIENT_CERT_CONN = 0x02;
/** The first custom TLV type: mesh-sidecar puts the peer's SPIFFE ID there. */
const PP2_TYPE_SPIFFE_ID = 0xe0;

/** Who called, as the header says. */
export interface Caller {
  /** The peer's SPIFFE ID (TLV 0xE0), as its sidecar verified it. */
  readonly spiffeId: string | undefined;
  /** The peer's address and port, `host:port`. */
  readonly address: string;
  /** The sidecar listener's address the peer connected to. */
  readonly listener: string;
  readonly tls: { readonly version: string | undefined; readonly cipher: string | undefined; readonly resumed: boolean } | undefined;
}

/** Why a connection was refused. */
export class ProxyHeaderError extends Error {}

/**
 * Decodes a complete v2 header (exactly `16 + length` bytes). Throws
 * ProxyHeaderError for anything but version 2 / PROXY over TCP.
 */
export function parseProxyV2(header: Buffer): Caller {
  if (header.length < 16 || !header.subarray(0, 12).equals(SIGNATURE)) throw new ProxyHeaderError("the connection does not start with a PROXY v2 header");
  if (header[12] !== 0x21) throw new ProxyHeaderError(`expected version 2, command PROXY (0x21), got 0x${(header[12] ?? 0).toString(16)}`);
  const family = header[13];
  const addressLength = family === 0x11 ? 12 : family === 0x21 ? 36 : undefined;
  if (addressLength === undefined) throw new ProxyHeaderError(`expected TCP over IPv4 or IPv6, got family/transport 0x${(family ?? 0).toString(16)}`);
  if (header.length !== 16 + header.readUInt16BE(14) || header.length < 16 + addressLength) throw new ProxyHeaderError("the header's length does not match its content");
  const ip = (at: number): string => (addressLength === 12 ? [...header.subarray(at, at + 4)].join(".") : ipv6(header.subarray(at, at + 16)));
  const size = addressLength === 12 ? 4 : 16;
  const portsAt = 16 + 2 * size;
  const caller = {
    address: `${ip(16)}:${header.readUInt16BE(portsAt)}`,
    listener: `${ip(16 + size)}:${header.readUInt16BE(portsAt + 2)}`,
  };
  let spiffeId: string | undefined;
  let tls: Caller["tls"];
  for (const tlv of tlvs(header.subarray(16 + addressLength))) {
    if (tlv.type === PP2_TYPE_SPIFFE_ID) spiffeId = tlv.value.toString("utf8");
    if (tlv.type === PP2_TYPE_SSL && tlv.value.length >= 5) {
      const subs = tlvs(tlv.value.subarray(5));
      tls = {
        version: subs.find((t) => t.type === PP2_SUBTYPE_SSL_VERSION)?.value.toString("latin1"),
        cipher: subs.find((t) => t.type === PP2_SUBTYPE_SSL_CIPHER)?.value.toString("latin1"),
        resumed: ((tlv.value[0] ?? 0) & PP2_CLIENT_CERT_CONN) === 0,
      };
    }
  }
  return { spiffeId, ...caller, tls };
}

/**
 * Reads the header off a fresh socket (in paused mode, so the bytes after it
 * stay buffered for whoever takes the socket next) and resolves with the
 * caller. Rejects when the bytes are not a header, or the connection ends or
 * stays silent for `timeoutMs` first.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<Caller> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const finish = (err: Error | undefined, caller?: Caller): void => {
      clearTimeout(timer);
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      if (err) reject(err);
      else resolve(caller as Caller);
    };
    const onEnd = (): void => finish(new ProxyHeaderError("the connection closed before a PROXY v2 header arrived"));
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) got = Buffer.concat([got, chunk]);
      const signed = got.subarray(0, SIGNATURE.length);
      if (!signed.equals(SIGNATURE.subarray(0, signed.length))) return finish(new ProxyHeaderError("the connection does not start with a PROXY v2 header"));
      if (got.length < 16) return;
      const length = 16 + got.readUInt16BE(14);
      if (got.length < length) return;
      let caller: Caller;
      try {
        caller = parseProxyV2(got.subarray(0, length));
      } catch (err) {
        return finish(err as Error);
      }
      finish(undefined, caller);
      // What came with the header is the app's: put it back for whoever reads the socket next.
      if (got.length > length) socket.unshift(got.subarray(length));
    };
    const timer = setTimeout(() => finish(new ProxyHeaderError(`no PROXY v2 header within ${timeoutMs} ms`)), timeoutMs);
    socket.on("readable", onReadable);
    socket.on("end", onEnd);
  });
}

function tlvs(bytes: Buffer): { type: number; value: Buffer }[] {
  const out: { type: number; value: Buffer }[] = [];
  for (let at = 0; at + 3 <= bytes.length; ) {
    const length = bytes.readUInt16BE(at + 1);
    if (at + 3 + length > bytes.length) throw new ProxyHeaderError("a TLV runs past the end of the header");
    out.push({ type: bytes[at] as number, value: bytes.subarray(at + 3, at + 3 + length) });
    at += 3 + length;
  }
  return out;
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(":");
}
