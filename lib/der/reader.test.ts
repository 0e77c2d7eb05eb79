import { describe, expect, it } from "vitest";
import { DerError } from "./errors.js";
import { oidContent, oidReader, readOid } from "./oid.js";
import { children, DerCursor, readElement, soleElement } from "./reader.js";
import { DerTag } from "./tags.js";
import { readBitString, readBitStringOctets, readBoolean, readIa5, readSmallInteger, readTime } from "./values.js";
import { thrownCode } from "../../test/helpers/error-code.js";

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const first = (hex: string): { der: Uint8Array; el: ReturnType<DerCursor["next"]> } => {
  const der = bytes(hex);
  return { der, el: new DerCursor(der).next() };
};

const MALFORMED = "DER_MALFORMED";
const outcome = (fn: () => unknown): string => thrownCode(DerError, fn);

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
  ])("refuses %s as DER_MALFORMED", (_name, hex) => {
    expect(outcome(() => new DerCursor(bytes(hex)).next())).toBe(MALFORMED);
  });

  it("keeps a child inside its parent", () => {
    const der = bytes("30 03 04 05 00 00 00 00 00");
    const parent = new DerCursor(der).next();
    expect(parent.end).toBe(5);
    expect(outcome(() => DerCursor.inside(der, parent).next())).toBe(MALFORMED);
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
    expect(outcome(() => soleElement(two, new DerCursor(two).next(), DerTag.SEQUENCE, "bc"))).toBe(MALFORMED);
  });
});

describe("DER primitives", () => {
  it("reads booleans only as 00 or FF", () => {
    expect(readBoolean(first("01 01 ff").der, first("01 01 ff").el, "b")).toBe(true);
    expect(readBoolean(first("01 01 00").der, first("01 01 00").el, "b")).toBe(false);
    for (const hex of ["01 01 01", "01 02 00 00", "01 00", "02 01 ff"]) {
      const { der, el } = first(hex);
      expect(outcome(() => readBoolean(der, el, "b"))).toBe(MALFORMED);
    }
  });

  it("reads a small version INTEGER", () => {
    const { der, el } = first("02 01 02");
    expect(readSmallInteger(der, el, "version")).toBe(2);
    for (const hex of ["02 01 80", "02 02 00 02", "02 00"]) {
      const bad = first(hex);
      expect(outcome(() => readSmallInteger(bad.der, bad.el, "version"))).toBe(MALFORMED);
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
    expect(outcome(() => readOid(der, el, "oid"))).toBe(MALFORMED);
  });

  it("reads BIT STRINGs and requires their unused bits to be zero", () => {
    const ok = first("03 02 07 80");
    expect(readBitString(ok.der, ok.el, "ku")).toEqual({ bytes: bytes("80"), unusedBits: 7 });
    const empty = first("03 01 00");
    expect(readBitString(empty.der, empty.el, "x").bytes.length).toBe(0);
    for (const hex of ["03 02 07 81", "03 02 08 00", "03 01 01", "03 00"]) {
      const bad = first(hex);
      expect(outcome(() => readBitString(bad.der, bad.el, "ku"))).toBe(MALFORMED);
    }
  });

  it("reads IA5 strings and refuses bytes above 0x7f", () => {
    const uri = Buffer.from("spiffe://example.org/a");
    const { der, el } = first(`86 ${uri.length.toString(16)} ${uri.toString("hex")}`);
    expect(readIa5(der, el, "uri")).toBe("spiffe://example.org/a");
    const bad = first("86 02 61 e9");
    expect(outcome(() => readIa5(bad.der, bad.el, "uri"))).toBe(MALFORMED);
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
    expect(outcome(() => time(tag, text))).toBe(MALFORMED);
  });
});

describe("readElement and children (reading by position, as the CA reads CSRs)", () => {
  it("reads short and long lengths", () => {
    expect(readElement(Buffer.from("0403616263", "hex"), 0)).toEqual({ tag: 0x04, offset: 0, start: 2, end: 5 });
    const long = Buffer.concat([Buffer.from("048181", "hex"), Buffer.alloc(0x81)]);
    expect(readElement(long, 0)).toEqual({ tag: 0x04, offset: 0, start: 3, end: 3 + 0x81 });
  });

  it("refuses BER: indefinite and non-minimal lengths", () => {
    expect(() => readElement(Buffer.from("3080000000", "hex"), 0)).toThrow(/indefinite length/);
    expect(() => readElement(Buffer.from("04810161", "hex"), 0)).toThrow(/non-minimal length/);
    expect(() => readElement(Buffer.from("0482000161", "hex"), 0)).toThrow(/non-minimal length/);
  });

  it("refuses elements that run past their container", () => {
    expect(() => readElement(Buffer.from("0405616263", "hex"), 0)).toThrow(DerError);
    expect(() => readElement(Buffer.from("04", "hex"), 0)).toThrow(/truncated/);
    expect(() => readElement(Buffer.from("0403616263", "hex"), 0, 4)).toThrow(/runs past/);
  });

  it("lists the children of a constructed element and keeps them inside it", () => {
    const der = bytes("30 06 02 01 05 04 01 61");
    expect(children(der, readElement(der, 0)).map((c) => c.tag)).toEqual([0x02, 0x04]);
    const overflowing = bytes("30 03 04 05 00 00 00 00 00");
    expect(outcome(() => children(overflowing, readElement(overflowing, 0)))).toBe(MALFORMED);
  });

  it("requires no unused bits where a BIT STRING carries octets (keys, signatures)", () => {
    const ok = first("03 03 00 ab cd");
    expect(Buffer.from(readBitStringOctets(ok.der, ok.el, "key")).toString("hex")).toBe("abcd");
    const bad = first("03 02 07 80");
    expect(outcome(() => readBitStringOctets(bad.der, bad.el, "key"))).toBe(MALFORMED);
  });
});

describe("OBJECT IDENTIFIER content and the fast-path reader", () => {
  const oidElement = (oid: string): { der: Uint8Array; el: ReturnType<DerCursor["next"]> } => {
    const content = oidContent(oid);
    const der = Uint8Array.of(DerTag.OID, content.length, ...content);
    return { der, el: readElement(der, 0) };
  };

  it("round-trips OIDs with multi-byte arcs", () => {
    for (const oid of ["1.2.840.10045.4.3.2", "2.5.29.17", "1.3.6.1.5.5.7.3.2", "2.999.1"]) {
      const { der, el } = oidElement(oid);
      expect(readOid(der, el, "oid")).toBe(oid);
    }
    expect(Buffer.from(oidContent("1.2.840.10045.2.1")).toString("hex")).toBe("2a8648ce3d0201");
  });

  it("reads expected OIDs by comparing bytes and decodes any other", () => {
    const read = oidReader(["1.2.840.10045.4.3.2", "2.5.29.17"]);
    for (const oid of ["1.2.840.10045.4.3.2", "2.5.29.17", "1.2.840.10045.4.3.3", "2.5.29.1"]) {
      const { der, el } = oidElement(oid);
      expect(read(der, el, "oid")).toBe(oid);
    }
    const notOid = Uint8Array.of(0x04, 0x03, 0x55, 0x1d, 0x11);
    expect(() => read(notOid, readElement(notOid, 0), "oid")).toThrow(DerError);
  });
});
