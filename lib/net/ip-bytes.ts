/**
 * IP address text, as Node reports it on a socket (`127.0.0.1`, `::1`,
 * `::ffff:10.0.0.1`, `fe80::1%eth0`), to its bytes in network order: what a
 * binary wire format (PROXY protocol v2) carries.
 */
import { isIPv4, isIPv6 } from "node:net";

/** 4 bytes for IPv4, 16 for IPv6 (a zone suffix such as `%eth0` is dropped); undefined for anything else. */
export function ipBytes(address: string): Buffer | undefined {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number));
  const bare = address.split("%")[0] as string;
  if (!isIPv6(bare)) return undefined;
  return ipv6Bytes(bare);
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else undefined. */
export function unmapIpv4(bytes: Buffer): Buffer | undefined {
  if (bytes.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return bytes.subarray(12);
}

/** The IPv4-mapped IPv6 form of 4 IPv4 bytes. */
export function mapIpv4(bytes: Buffer): Buffer {
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  bytes.copy(out, 12);
  return out;
}

/** `text` is valid IPv6 (checked by the caller with isIPv6). */
function ipv6Bytes(text: string): Buffer {
  const [head = "", tail] = text.split("::") as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
