import { describe, expect, it } from "vitest";
import { DerCursor, DerTag, readBitString, readBoolean, readIa5, readOid, readSmallInteger, readTime, soleElement } from "./der.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import { thrownCode } from "../../test/helpers/error-code.js";

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const first = (hex: string): { der: Uint8Array; el: ReturnType<DerCursor["next"]> } => {
  const der = bytes(hex);
  return { der, el: new DerCursor(der).next() };
};

const outcome = (fn: () => unknown): string => thrownCode(SvidError, fn);

describe("DerCursor", () => {
  it("reads short and long lengths and walks siblings in order", () => {
    const long = "04 81 80 " + "00".repeat(128);
    const c = new DerCursor(bytes(`02 01 05 ${long} 05 00`));
    expect(c.next()).toEqual({ tag: 0x02, offset: 0, start: 2, end: 3 });
    expect(c.next()).toEqual({ tag: 0x04, offset: 3, start: 6, end: 134 });
    expect(c.peekTag()).toBe(0x05);
    expect(c.optional(0x02, "x")).toBeUndefined();
    c.expect(0x05, "null");
    expect(c.done).toBe(true);
    expect(c.peekTag()).toBeUndefined();
    expect(() => c.finish("all")).not.toThrow();
  });

  it.each([
    ["an indefinite length", "30 80 00 00"],
    ["a long form for a short length", "04 81 05 00 00 00 00 00"],
    ["a length with a leading zero octet", "04 82 00 80" + "00".repeat(128)],
    ["a length field longer than three octets", "04 84 00 00 00 01 00"],
    ["a multi-byte tag", "1f 81 01 00"],
    ["a truncated element", "04 05 00 00"],
    ["a truncated length field", "04 82 01"],
    ["a lone tag byte", "30"],
    ["nothing at all", ""],
  ])("refuses %s as SVID_MALFORMED", (_name, hex) => {
    expect(outcome(() => new DerCursor(bytes(hex)).next())).toBe(SvidErrorCode.MALFORMED);
  });

  it("keeps a child inside its parent", () => {
    const der = bytes("30 03 04 05 00 00 00 00 00");
    const parent = new DerCursor(der).next();
    expect(parent.end).toBe(5);
    expect(outcome(() => DerCursor.inside(der, parent).next())).toBe(SvidErrorCode.MALFORMED);
  });

  it("refuses an unexpected tag and trailing bytes, naming the field", () => {
    expect(() => new DerCursor(bytes("02 01 00")).expect(DerTag.SEQUENCE, "tbsCertificate")).toThrow(/tbsCertificate: expected tag 0x30, found 0x02/);
    const c = new DerCursor(bytes("05 00 05 00"));
    c.next();
    expect(() => c.finish("validity")).toThrow(/validity: unexpected bytes/);
  });

  it("unwraps exactly one element from an extension value", () => {
    const der = bytes("04 02 30 00");
    const octets = new DerCursor(der).next();
    expect(soleElement(der, octets, DerTag.SEQUENCE, "bc").start).toBe(4);
    const two = bytes("04 04 30 00 30 00");
    expect(outcome(() => soleElement(two, new DerCursor(two).next(), DerTag.SEQUENCE, "bc"))).toBe(SvidErrorCode.MALFORMED);
  });
});

describe("DER primitives", () => {
  it("reads booleans only as 00 or FF", () => {
    expect(readBoolean(first("01 01 ff").der, first("01 01 ff").el, "b")).toBe(true);
    expect(readBoolean(first("01 01 00").der, first("01 01 00").el, "b")).toBe(false);
    for (const hex of ["01 01 01", "01 02 00 00", "01 00", "02 01 ff"]) {
      const { der, el } = first(hex);
      expect(outcome(() => readBoolean(der, el, "b"))).toBe(SvidErrorCode.MALFORMED);
    }
  });

  it("reads a small version INTEGER", () => {
    const { der, el } = first("02 01 02");
    expect(readSmallInteger(der, el, "version")).toBe(2);
    for (const hex of ["02 01 80", "02 02 00 02", "02 00"]) {
      const bad = first(hex);
      expect(outcome(() => readSmallInteger(bad.der, bad.el, "version"))).toBe(SvidErrorCode.MALFORMED);
    }
  });

  it.each([
    ["06 08 2b 06 01 05 05 07 03 01", "1.3.6.1.5.5.7.3.1"],
    ["06 03 55 1d 11", "2.5.29.17"],
    ["06 02 88 37", "2.999"],
    ["06 01 00", "0.0"],
    ["06 0a 60 86 48 01 65 03 04 02 01 00", "2.16.840.1.101.3.4.2.1.0"],
  ])("decodes the OID %s as %s", (hex, text) => {
    const { der, el } = first(hex);
    expect(readOid(der, el, "oid")).toBe(text);
  });

  it.each([
    ["an empty OID", "06 00"],
    ["a non-minimal arc", "06 03 55 80 1d"],
    ["an OID ending inside an arc", "06 02 55 9d"],
    ["an arc too large to be exact", "06 0a 2a ff ff ff ff ff ff ff ff 7f"],
    ["another tag", "04 01 2a"],
  ])("refuses %s", (_name, hex) => {
    const { der, el } = first(hex);
    expect(outcome(() => readOid(der, el, "oid"))).toBe(SvidErrorCode.MALFORMED);
  });

  it("reads BIT STRINGs and requires their unused bits to be zero", () => {
    const ok = first("03 02 07 80");
    expect(readBitString(ok.der, ok.el, "ku")).toEqual({ bytes: bytes("80"), unusedBits: 7 });
    const empty = first("03 01 00");
    expect(readBitString(empty.der, empty.el, "x").bytes.length).toBe(0);
    for (const hex of ["03 02 07 81", "03 02 08 00", "03 01 01", "03 00"]) {
      const bad = first(hex);
      expect(outcome(() => readBitString(bad.der, bad.el, "ku"))).toBe(SvidErrorCode.MALFORMED);
    }
  });

  it("reads IA5 strings and refuses bytes above 0x7f", () => {
    const uri = Buffer.from("spiffe://example.org/a");
    const { der, el } = first(`86 ${uri.length.toString(16)} ${uri.toString("hex")}`);
    expect(readIa5(der, el, "uri")).toBe("spiffe://example.org/a");
    const bad = first("86 02 61 e9");
    expect(outcome(() => readIa5(bad.der, bad.el, "uri"))).toBe(SvidErrorCode.MALFORMED);
  });
});

describe("readTime", () => {
  const time = (tag: number, text: string): number => {
    const hex = `${tag.toString(16)} ${text.length.toString(16).padStart(2, "0")} ${Buffer.from(text).toString("hex")}`;
    const { der, el } = first(hex);
    return readTime(der, el, "notAfter");
  };

  it("reads UTCTime with the RFC 5280 century rule and GeneralizedTime", () => {
    expect(time(DerTag.UTC_TIME, "300101000000Z")).toBe(Date.parse("2030-01-01T00:00:00Z"));
    expect(time(DerTag.UTC_TIME, "491231235959Z")).toBe(Date.parse("2049-12-31T23:59:59Z"));
    expect(time(DerTag.UTC_TIME, "500101000000Z")).toBe(Date.parse("1950-01-01T00:00:00Z"));
    expect(time(DerTag.GENERALIZED_TIME, "20500601120000Z")).toBe(Date.parse("2050-06-01T12:00:00Z"));
    expect(time(DerTag.UTC_TIME, "240229000000Z")).toBe(Date.parse("2024-02-29T00:00:00Z"));
  });

  it.each([
    ["no Z", DerTag.UTC_TIME, "3001010000000"],
    ["a time zone offset", DerTag.UTC_TIME, "3001010000+0100"],
    ["no seconds", DerTag.UTC_TIME, "3001010000Z"],
    ["fractional seconds", DerTag.GENERALIZED_TIME, "20300101000000.5Z"],
    ["a non-digit", DerTag.UTC_TIME, "30010100000aZ"],
    ["a sign", DerTag.UTC_TIME, "3001010000-1Z"],
    ["month 13", DerTag.UTC_TIME, "301301000000Z"],
    ["month 0", DerTag.UTC_TIME, "300001000000Z"],
    ["30 February", DerTag.UTC_TIME, "300230000000Z"],
    ["29 February of a common year", DerTag.UTC_TIME, "230229000000Z"],
    ["hour 24", DerTag.UTC_TIME, "300101240000Z"],
    ["second 60", DerTag.UTC_TIME, "300101235960Z"],
    ["a UTCTime-shaped GeneralizedTime", DerTag.GENERALIZED_TIME, "300101000000Z"],
    ["another tag", DerTag.IA5_STRING, "300101000000Z"],
  ])("refuses %s", (_name, tag, text) => {
    expect(outcome(() => time(tag, text))).toBe(SvidErrorCode.MALFORMED);
  });
});
