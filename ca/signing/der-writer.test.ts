import { describe, expect, it } from "vitest";
import { DerTag } from "../../lib/der/tags.js";
import { elementSize, encodeLength, encodeOid, timeSize, tlv, unsignedIntegerContent, writeHeader, writeTime } from "./der-writer.js";

/**
 * RFC 5280 §4.1.2.5 time built by concatenation: the reference the in-place
 * writeTime must equal (UTCTime through 2049, GeneralizedTime from 2050,
 * whole seconds, "Z").
 */
function encodeTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year <= 2049) return tlv(DerTag.UTC_TIME, Buffer.from(`${two(year % 100)}${rest}`, "latin1"));
  return tlv(DerTag.GENERALIZED_TIME, Buffer.from(`${String(year).padStart(4, "0")}${rest}`, "latin1"));
}

const unsignedInteger = (magnitude: Uint8Array): Buffer => tlv(DerTag.INTEGER, unsignedIntegerContent(magnitude));

describe("DER writer", () => {
  it("encodes lengths minimally", () => {
    expect(Buffer.from(encodeLength(0x7f)).toString("hex")).toBe("7f");
    expect(Buffer.from(encodeLength(0x80)).toString("hex")).toBe("8180");
    expect(Buffer.from(encodeLength(0x1234)).toString("hex")).toBe("821234");
  });

  it("encodes OIDs with multi-byte arcs", () => {
    expect(encodeOid("1.2.840.10045.2.1").toString("hex")).toBe("06072a8648ce3d0201");
  });

  it("encodes positive integers with a sign octet only when needed", () => {
    expect(unsignedInteger(Buffer.from("01ff", "hex")).toString("hex")).toBe("020201ff");
    expect(unsignedInteger(Buffer.from("ff", "hex")).toString("hex")).toBe("020200ff");
    expect(unsignedInteger(Buffer.from("0000ff", "hex")).toString("hex")).toBe("020200ff");
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
});
