import { describe, expect, it } from "vitest";
import { decodeOid, DerError, elementSize, encodeLength, encodeOid, encodeTime, encodeUnsignedInteger, oidReader, readTlv, timeSize, writeHeader, writeTime } from "./der.js";

describe("DER reader", () => {
  it("reads short and long lengths", () => {
    expect(readTlv(Buffer.from("0403616263", "hex"), 0)).toEqual({ tag: 0x04, offset: 0, start: 2, end: 5 });
    const long = Buffer.concat([Buffer.from("048181", "hex"), Buffer.alloc(0x81)]);
    expect(readTlv(long, 0)).toEqual({ tag: 0x04, offset: 0, start: 3, end: 3 + 0x81 });
  });

  it("refuses BER: indefinite and non-minimal lengths", () => {
    expect(() => readTlv(Buffer.from("3080000000", "hex"), 0)).toThrow(/indefinite length/);
    expect(() => readTlv(Buffer.from("04810161", "hex"), 0)).toThrow(/non-minimal length/);
    expect(() => readTlv(Buffer.from("0482000161", "hex"), 0)).toThrow(/non-minimal length/);
  });

  it("refuses elements that run past their container", () => {
    expect(() => readTlv(Buffer.from("0405616263", "hex"), 0)).toThrow(DerError);
    expect(() => readTlv(Buffer.from("04", "hex"), 0)).toThrow(/truncated/);
    expect(() => readTlv(Buffer.from("0403616263", "hex"), 0, 4)).toThrow(/runs past/);
  });

  it("round-trips OIDs with multi-byte arcs", () => {
    for (const oid of ["1.2.840.10045.4.3.2", "2.5.29.17", "1.3.6.1.5.5.7.3.2", "2.999.1"]) {
      const der = encodeOid(oid);
      expect(decodeOid(der, readTlv(der, 0))).toBe(oid);
    }
    expect(encodeOid("1.2.840.10045.2.1").toString("hex")).toBe("06072a8648ce3d0201");
  });
});

describe("DER writer", () => {
  it("encodes lengths minimally", () => {
    expect(Buffer.from(encodeLength(0x7f)).toString("hex")).toBe("7f");
    expect(Buffer.from(encodeLength(0x80)).toString("hex")).toBe("8180");
    expect(Buffer.from(encodeLength(0x1234)).toString("hex")).toBe("821234");
  });

  it("encodes positive integers with a sign octet only when needed", () => {
    expect(encodeUnsignedInteger(Buffer.from("01ff", "hex")).toString("hex")).toBe("020201ff");
    expect(encodeUnsignedInteger(Buffer.from("ff", "hex")).toString("hex")).toBe("020200ff");
    expect(encodeUnsignedInteger(Buffer.from("0000ff", "hex")).toString("hex")).toBe("020200ff");
  });

  it("writes UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    expect(encodeTime(new Date("2049-12-31T23:59:59.900Z")).toString("latin1")).toBe("\x17\x0d491231235959Z");
    expect(encodeTime(new Date("2050-01-01T00:00:00Z")).toString("latin1")).toBe("\x18\x0f20500101000000Z");
  });

  it("writes in place the same headers and times as the concatenating writer", () => {
    for (const length of [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x1234, 0xffff, 0x10000]) {
      const out = new Uint8Array(8);
      const end = writeHeader(out, 1, 0x30, length);
      expect(Buffer.from(out.subarray(1, end)).toString("hex")).toBe(`30${Buffer.from(encodeLength(length)).toString("hex")}`);
      expect(elementSize(length)).toBe(end - 1 + length);
    }
    for (const date of ["1950-01-01T00:00:00Z", "2049-12-31T23:59:59.900Z", "2026-03-04T05:06:07Z", "2050-01-01T00:00:00Z", "1949-12-31T23:59:59Z", "9999-12-31T23:59:59Z"]) {
      const out = new Uint8Array(20);
      const end = writeTime(out, 2, new Date(date));
      expect(Buffer.from(out.subarray(2, end)).equals(encodeTime(new Date(date)))).toBe(true);
      expect(timeSize(new Date(date))).toBe(end - 2);
    }
  });

  it("reads expected OIDs by comparing bytes and decodes any other", () => {
    const read = oidReader(["1.2.840.10045.4.3.2", "2.5.29.17"]);
    for (const oid of ["1.2.840.10045.4.3.2", "2.5.29.17", "1.2.840.10045.4.3.3", "2.5.29.1"]) {
      const der = encodeOid(oid);
      expect(read(der, readTlv(der, 0))).toBe(oid);
    }
    const notOid = Uint8Array.of(0x04, 0x03, 0x55, 0x1d, 0x11);
    expect(() => read(notOid, readTlv(notOid, 0))).toThrow(DerError);
  });
});
