import { describe, expect, it } from "vitest";
import { ipBytes, mapIpv4, unmapIpv4 } from "./ip-bytes.js";

const hex = (b: Buffer | undefined): string | undefined => b?.toString("hex");

describe("ipBytes", () => {
  it("turns IPv4 into 4 bytes in network order", () => {
    expect(hex(ipBytes("127.0.0.1"))).toBe("7f000001");
    expect(hex(ipBytes("192.0.2.255"))).toBe("c00002ff");
  });

  it("turns every IPv6 spelling Node reports into 16 bytes", () => {
    expect(hex(ipBytes("::1"))).toBe("00000000000000000000000000000001");
    expect(hex(ipBytes("::"))).toBe("00000000000000000000000000000000");
    expect(hex(ipBytes("2001:db8::8:800:200c:417a"))).toBe("20010db80000000000080800200c417a");
    expect(hex(ipBytes("fe80::1%eth0"))).toBe("fe800000000000000000000000000001");
    expect(hex(ipBytes("::ffff:10.1.2.3"))).toBe("00000000000000000000ffff0a010203");
    expect(hex(ipBytes("1:2:3:4:5:6:7:8"))).toBe("00010002000300040005000600070008");
    expect(hex(ipBytes("1::"))).toBe("00010000000000000000000000000000");
  });

  it("refuses what is not an IP address", () => {
    for (const bad of ["", "localhost", "1.2.3", "1.2.3.256", ":::1", "1:2:3:4:5:6:7:8:9"]) expect(ipBytes(bad), bad).toBeUndefined();
  });
});

describe("IPv4-mapped IPv6", () => {
  it("unmaps ::ffff:a.b.c.d and nothing else, and maps back", () => {
    const mapped = ipBytes("::ffff:127.0.0.1") as Buffer;
    expect(hex(unmapIpv4(mapped))).toBe("7f000001");
    expect(unmapIpv4(ipBytes("::1") as Buffer)).toBeUndefined();
    expect(unmapIpv4(ipBytes("127.0.0.1") as Buffer)).toBeUndefined();
    expect(mapIpv4(ipBytes("127.0.0.1") as Buffer).equals(mapped)).toBe(true);
  });
});
