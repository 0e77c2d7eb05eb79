import { describe, expect, it } from "vitest";
import { readProxyV2, subText } from "../../test/helpers/proxy-v2.js";
import { proxyV2Header, type ProxyHeaderFacts } from "./proxy-protocol.js";

const FACTS: ProxyHeaderFacts = {
  source: { address: "127.0.0.1", port: 50123 },
  destination: { address: "127.0.0.2", port: 15006 },
  tlsVersion: "TLSv1.3",
  cipher: "TLS_AES_256_GCM_SHA384",
  resumed: false,
  peerId: "spiffe://example.org/ns/web/sa/frontend",
};

describe("proxyV2Header", () => {
  it("writes a v2 PROXY header over TCP/IPv4 that a third-party parser reads back field by field", () => {
    const h = readProxyV2(proxyV2Header(FACTS));
    expect(h).toMatchObject({ command: "PROXY", transport: "STREAM", family: "AF_INET", source: FACTS.source, destination: FACTS.destination });
    expect(h.tlvs.map((t) => t.type)).toEqual([0x20, 0xe0]);
    expect(h.ssl).toMatchObject({ client: 0x01 | 0x02 | 0x04, verify: 0 });
    expect(h.ssl?.subs.map((t) => t.type)).toEqual([0x21, 0x23]);
    expect(subText(h, 0x21)).toBe("TLSv1.3");
    expect(subText(h, 0x23)).toBe("TLS_AES_256_GCM_SHA384");
    expect(h.spiffeId).toBe(FACTS.peerId);
    expect(h.rest.length).toBe(0);
  });

  it("sets PP2_CLIENT_CERT_SESS without PP2_CLIENT_CERT_CONN when the TLS session was resumed (no certificate on this connection)", () => {
    expect(readProxyV2(proxyV2Header({ ...FACTS, resumed: true })).ssl?.client).toBe(0x01 | 0x04);
  });

  it("has the exact bytes the spec lays out (fixed part, addresses, ports, TLV lengths)", () => {
    const b = proxyV2Header(FACTS);
    expect(b.subarray(0, 16).toString("hex")).toBe(`0d0a0d0a000d0a515549540a2111${(b.length - 16).toString(16).padStart(4, "0")}`);
    expect(b.subarray(16, 28).toString("hex")).toBe("7f0000017f000002c3cb3a9e");
    // 0x20, length 1 + 4 + (3 + 7) + (3 + 22) = 40, client 0x07, verify 0
    expect(b.subarray(28, 36).toString("hex")).toBe("2000280700000000");
    expect(b.subarray(36, 46).toString("latin1")).toBe("\x21\x00\x07TLSv1.3");
    expect(b[71]).toBe(0xe0);
    expect(b.readUInt16BE(72)).toBe(Buffer.byteLength(FACTS.peerId));
  });

  it("uses TCP/IPv6 for IPv6 ends, and IPv4 for IPv4-mapped ends from a dual-stack listener", () => {
    const v6 = readProxyV2(proxyV2Header({ ...FACTS, source: { address: "2001:db8::7", port: 1 }, destination: { address: "::1", port: 2 } }));
    expect(v6).toMatchObject({ family: "AF_INET6", source: { address: "2001:db8:0:0:0:0:0:7", port: 1 }, destination: { address: "0:0:0:0:0:0:0:1", port: 2 } });
    expect(v6.spiffeId).toBe(FACTS.peerId);
    const mapped = readProxyV2(proxyV2Header({ ...FACTS, source: { address: "::ffff:10.0.0.9", port: 3 }, destination: { address: "::ffff:10.0.0.1", port: 4 } }));
    expect(mapped).toMatchObject({ family: "AF_INET", source: { address: "10.0.0.9", port: 3 }, destination: { address: "10.0.0.1", port: 4 } });
    const mixed = readProxyV2(proxyV2Header({ ...FACTS, source: { address: "10.0.0.9", port: 3 }, destination: { address: "fd00::1", port: 4 } }));
    expect(mixed).toMatchObject({ family: "AF_INET6", source: { address: "0:0:0:0:0:ffff:a00:9" }, destination: { address: "fd00:0:0:0:0:0:0:1" } });
  });

  it("carries a SPIFFE ID of the longest legal size (2048 bytes) and non-ASCII UTF-8 intact", () => {
    const long = `spiffe://example.org/${"a".repeat(2048 - "spiffe://example.org/".length)}`;
    expect(readProxyV2(proxyV2Header({ ...FACTS, peerId: long })).spiffeId).toBe(long);
    const utf8 = "spiffe://example.org/ns/café/sa/x"; // not a valid SPIFFE ID, but the byte count must be UTF-8
    expect(readProxyV2(proxyV2Header({ ...FACTS, peerId: utf8 })).spiffeId).toBe(utf8);
  });

  it("refuses a value past a 16-bit length and an address that is not an IP", () => {
    expect(() => proxyV2Header({ ...FACTS, peerId: `spiffe://example.org/${"a".repeat(70_000)}` })).toThrow(/SPIFFE ID TLV value is \d+ bytes; a length field holds at most 65535/);
    expect(() => proxyV2Header({ ...FACTS, source: { address: "localhost", port: 1 } })).toThrow(/"localhost" is not an IP address/);
  });
});
