/**
 * The PROXY protocol v2 header (haproxy's doc/proxy-protocol.txt) an inbound
 * listener with `proxyProtocol: v2` writes to the app before any byte of the
 * peer, so the app learns who called: the peer's address and port, the
 * address and port it connected to, how its TLS went, and its SPIFFE ID.
 *
 *   signature (12) | 0x21 version 2, PROXY | 0x11 TCP/IPv4 or 0x21 TCP/IPv6 | length (2)
 *   source address | destination address | source port | destination port
 *   TLV 0x20 PP2_TYPE_SSL: client bits (1), verify (4) = 0,
 *       sub-TLV 0x21 PP2_SUBTYPE_SSL_VERSION, sub-TLV 0x23 PP2_SUBTYPE_SSL_CIPHER
 *   TLV 0xE0 (first of the custom range): the peer's SPIFFE ID, UTF-8
 *
 * A pure function of the connection's facts: the listener writes its result
 * once, as the first write to the app, and the data path after it is the
 * plain splice.
 */
import { ipBytes, mapIpv4, unmapIpv4 } from "../../lib/net/ip-bytes.js";

/** The 12 bytes every v2 header starts with. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Protocol version 2 (high nibble), command PROXY (low nibble). */
const VERSION_2_PROXY = 0x21;
const AF_INET_STREAM = 0x11;
const AF_INET6_STREAM = 0x21;

/** TLV types and PP2_TYPE_SSL client bits, as the spec numbers them. */
export const PP2 = {
  TYPE_SSL: 0x20,
  SUBTYPE_SSL_VERSION: 0x21,
  SUBTYPE_SSL_CIPHER: 0x23,
  /** PP2_TYPE_MIN_CUSTOM: the range kept for applications; ours carries the peer's SPIFFE ID. */
  TYPE_SPIFFE_ID: 0xe0,
  CLIENT_SSL: 0x01,
  CLIENT_CERT_CONN: 0x02,
  CLIENT_CERT_SESS: 0x04,
} as const;

/** A TLV's length field and the header's length field are 16 bits. */
const MAX_FIELD_LENGTH = 0xffff;

/** One end of the connection as the socket reports it. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** What the header says about one accepted, authorized connection. */
export interface ProxyHeaderFacts {
  /** The peer (the TLS client): its address and port. */
  readonly source: Endpoint;
  /** The listener's end of the connection: the address and port the peer connected to. */
  readonly destination: Endpoint;
  /** Negotiated protocol as Node names it, e.g. `TLSv1.3`. */
  readonly tlsVersion: string;
  /** Negotiated cipher, OpenSSL's name (e.g. `TLS_AES_256_GCM_SHA384`). */
  readonly cipher: string;
  /** The TLS session was resumed: the certificate was presented on an earlier connection of it. */
  readonly resumed: boolean;
  /** The peer's SPIFFE ID (at most 2048 bytes, lib/spiffe/id.ts). */
  readonly peerId: string;
}

/**
 * Builds the header for one connection. Throws RangeError when an address is
 * not an IP address or a value would not fit its 16-bit length (a SPIFFE ID
 * cannot be that long; the check keeps the header well-formed whatever it is given).
 */
export function proxyV2Header(facts: ProxyHeaderFacts): Buffer {
  const [source, destination] = sameFamily(addressBytes(facts.source), addressBytes(facts.destination));
  const versionLength = Buffer.byteLength(facts.tlsVersion, "latin1");
  const cipherLength = Buffer.byteLength(facts.cipher, "latin1");
  const idLength = Buffer.byteLength(facts.peerId, "utf8");
  const sslValueLength = 1 + 4 + (3 + versionLength) + (3 + cipherLength);
  const addressLength = source.length * 2 + 4;
  const length = addressLength + (3 + sslValueLength) + (3 + idLength);
  assertFits("the PP2_TYPE_SSL value", sslValueLength);
  assertFits("the SPIFFE ID TLV value", idLength);
  assertFits("the header's address and TLV block", length);

  const out = Buffer.allocUnsafe(16 + length);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = VERSION_2_PROXY;
  out[13] = source.length === 4 ? AF_INET_STREAM : AF_INET6_STREAM;
  out.writeUInt16BE(length, 14);
  let at = 16;
  at += source.copy(out, at);
  at += destination.copy(out, at);
  at = out.writeUInt16BE(facts.source.port, at);
  at = out.writeUInt16BE(facts.destination.port, at);

  at = tlvHeader(out, at, PP2.TYPE_SSL, sslValueLength);
  // The spec's meaning: CERT_CONN = a certificate was presented on this connection (a full
  // handshake), CERT_SESS = at least once in the TLS session (always, since we require one).
  // A resumed connection presented none itself, so it has CERT_SESS without CERT_CONN, as haproxy sets them.
  out[at++] = PP2.CLIENT_SSL | PP2.CLIENT_CERT_SESS | (facts.resumed ? 0 : PP2.CLIENT_CERT_CONN);
  // verify: 0 = the client presented a certificate and it was verified (nothing else reaches the app).
  at = out.writeUInt32BE(0, at);
  at = tlvHeader(out, at, PP2.SUBTYPE_SSL_VERSION, versionLength);
  at += out.write(facts.tlsVersion, at, "latin1");
  at = tlvHeader(out, at, PP2.SUBTYPE_SSL_CIPHER, cipherLength);
  at += out.write(facts.cipher, at, "latin1");

  at = tlvHeader(out, at, PP2.TYPE_SPIFFE_ID, idLength);
  out.write(facts.peerId, at, "utf8");
  return out;
}

function tlvHeader(out: Buffer, at: number, type: number, length: number): number {
  out[at] = type;
  return out.writeUInt16BE(length, at + 1);
}

function assertFits(what: string, length: number): void {
  if (length > MAX_FIELD_LENGTH) throw new RangeError(`PROXY v2: ${what} is ${length} bytes; a length field holds at most ${MAX_FIELD_LENGTH}`);
}

function addressBytes(end: Endpoint): Buffer {
  const bytes = ipBytes(end.address);
  if (!bytes) throw new RangeError(`PROXY v2: ${JSON.stringify(end.address)} is not an IP address`);
  return bytes;
}

/**
 * Both ends in one family: IPv4 when both are IPv4 (an IPv4-mapped IPv6
 * address, as a dual-stack listener reports IPv4 peers, counts as IPv4),
 * else both as IPv6.
 */
function sameFamily(a: Buffer, b: Buffer): [Buffer, Buffer] {
  const a4 = a.length === 4 ? a : unmapIpv4(a);
  const b4 = b.length === 4 ? b : unmapIpv4(b);
  if (a4 && b4) return [a4, b4];
  return [a.length === 4 ? mapIpv4(a) : a, b.length === 4 ? mapIpv4(b) : b];
}
