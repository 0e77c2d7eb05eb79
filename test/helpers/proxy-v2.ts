/**
 * Reads a PROXY protocol v2 header the way an app would, with a parser
 * nobody here wrote: proxy-protocol-js checks the signature, version,
 * command, family and transport and reads the addresses and ports. It does
 * not read TLVs (its `data` is every byte after the address block, the
 * TLVs and then whatever the connection carried), so the TLVs are decoded
 * here from that raw output, bounded by the header's length field, with the
 * type numbers written out as the spec gives them.
 */
import { Command, IPv4ProxyAddress, IPv6ProxyAddress, TransportProtocol, V2ProxyProtocol } from "proxy-protocol-js";

/** One TLV: type and value. */
export interface Tlv {
  readonly type: number;
  readonly value: Buffer;
}

/** A decoded header and the bytes that followed it. */
export interface ReadHeader {
  readonly command: "PROXY" | "LOCAL";
  readonly transport: "STREAM" | "DGRAM" | "UNSPEC";
  readonly family: "AF_INET" | "AF_INET6";
  readonly source: { readonly address: string; readonly port: number };
  readonly destination: { readonly address: string; readonly port: number };
  readonly tlvs: readonly Tlv[];
  /** PP2_TYPE_SSL (0x20): client bits, verify, and its sub-TLVs. */
  readonly ssl: { readonly client: number; readonly verify: number; readonly subs: readonly Tlv[] } | undefined;
  /** TLV 0xE0 as UTF-8. */
  readonly spiffeId: string | undefined;
  /** 16 + the length field. */
  readonly headerLength: number;
  /** What came after the header (the app's data). */
  readonly rest: Buffer;
}

/** Decodes the header at the start of `bytes`; throws when there is none or it is cut short. */
export function readProxyV2(bytes: Buffer): ReadHeader {
  const parsed = V2ProxyProtocol.parse(new Uint8Array(bytes));
  if (bytes.length < 16) throw new Error("shorter than the 16-byte fixed part");
  const headerLength = 16 + bytes.readUInt16BE(14);
  if (bytes.length < headerLength) throw new Error(`header says ${headerLength} bytes, only ${bytes.length} arrived`);
  const address = parsed.proxyAddress;
  let family: ReadHeader["family"];
  let source: ReadHeader["source"];
  let destination: ReadHeader["destination"];
  if (address instanceof IPv4ProxyAddress) {
    family = "AF_INET";
    source = { address: address.sourceAddress.address.join("."), port: address.sourcePort };
    destination = { address: address.destinationAddress.address.join("."), port: address.destinationPort };
  } else if (address instanceof IPv6ProxyAddress) {
    family = "AF_INET6";
    source = { address: ipv6Text(address.sourceAddress.address), port: address.sourcePort };
    destination = { address: ipv6Text(address.destinationAddress.address), port: address.destinationPort };
  } else {
    throw new Error(`unexpected address family ${parsed.addressFamilyType}`);
  }
  const afterAddresses = Buffer.from(parsed.data ?? new Uint8Array());
  const tlvBytes = afterAddresses.subarray(0, headerLength - (bytes.length - afterAddresses.length));
  const tlvs = readTlvs(tlvBytes);
  const sslTlv = tlvs.find((t) => t.type === 0x20);
  const idTlv = tlvs.find((t) => t.type === 0xe0);
  return {
    command: parsed.command === Command.PROXY ? "PROXY" : "LOCAL",
    transport: parsed.transportProtocol === TransportProtocol.STREAM ? "STREAM" : parsed.transportProtocol === TransportProtocol.DGRAM ? "DGRAM" : "UNSPEC",
    family,
    source,
    destination,
    tlvs,
    ssl: sslTlv ? { client: sslTlv.value[0] as number, verify: sslTlv.value.readUInt32BE(1), subs: readTlvs(sslTlv.value.subarray(5)) } : undefined,
    spiffeId: idTlv?.value.toString("utf8"),
    headerLength,
    rest: bytes.subarray(headerLength),
  };
}

/** A sub-TLV's value as text (version, cipher). */
export function subText(header: ReadHeader, type: number): string | undefined {
  return header.ssl?.subs.find((t) => t.type === type)?.value.toString("latin1");
}

function readTlvs(bytes: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 3 > bytes.length) throw new Error(`TLV at offset ${at} is cut short`);
    const type = bytes[at] as number;
    const length = bytes.readUInt16BE(at + 1);
    if (at + 3 + length > bytes.length) throw new Error(`TLV 0x${type.toString(16)} claims ${length} bytes past the header's end`);
    out.push({ type, value: bytes.subarray(at + 3, at + 3 + length) });
    at += 3 + length;
  }
  return out;
}

function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return groups.join(":");
}
