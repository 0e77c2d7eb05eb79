/**
 * A strict, allocation-light DER (X.690 §10) reader for the few certificate
 * fields the SVID checks need. It walks the bytes in place: no tree of
 * objects, no copies, no schema. Every read is bounds-checked against the
 * enclosing element, and every BER freedom that DER forbids is refused
 * (indefinite or non-minimal lengths, booleans other than 00/FF, unused
 * bits that are not zero), so one certificate has exactly one reading.
 * Anything wrong throws SvidError SVID_MALFORMED; the message says where.
 *
 * Termination: every element is at least two bytes and a cursor only moves
 * forward, so a loop over a cursor ends within length/2 steps of its input.
 */
import { SvidError, SvidErrorCode } from "./errors.js";

/** Tag bytes (class, constructed bit and number) met in certificates. */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One element: its tag byte and where its content lies (`start..end`, end exclusive). */
export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte, for messages. */
  readonly offset: number;
  readonly start: number;
  readonly end: number;
}

/** Throws SvidError SVID_MALFORMED with a position. */
export function malformed(message: string, offset?: number): never {
  throw new SvidError(SvidErrorCode.MALFORMED, `certificate is not valid DER: ${message}${offset === undefined ? "" : ` (byte ${offset})`}`);
}

/** Reads the elements of one byte range in order. */
export class DerCursor {
  private at: number;

  constructor(
    readonly der: Uint8Array,
    start = 0,
    private readonly end: number = der.length,
  ) {
    this.at = start;
  }

  /** A cursor over the content of a constructed element. */
  static inside(der: Uint8Array, el: DerElement): DerCursor {
    return new DerCursor(der, el.start, el.end);
  }

  /** True when every byte of the range has been read. */
  get done(): boolean {
    return this.at >= this.end;
  }

  /** The tag of the next element without reading it; undefined at the end. */
  peekTag(): number | undefined {
    return this.at < this.end ? this.der[this.at] : undefined;
  }

  /** Reads the next element, whatever its tag. */
  next(): DerElement {
    const der = this.der;
    const offset = this.at;
    if (offset + 2 > this.end) malformed("truncated element", offset);
    const tag = der[offset] as number;
    // Tag numbers ≥ 31 take more bytes; no certificate field we read uses them.
    if ((tag & 0x1f) === 0x1f) malformed("multi-byte tag", offset);
    const first = der[offset + 1] as number;
    let start = offset + 2;
    let length = first;
    if (first & 0x80) {
      const n = first & 0x7f;
      if (n === 0) malformed("indefinite length", offset);
      if (n > 3) malformed("length field too long for a certificate", offset); // ≥ 16 MiB
      if (start + n > this.end) malformed("truncated length", offset);
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + (der[start + i] as number);
      // DER: the short form when it fits, and no leading zero octet.
      if (length < 0x80 || der[start] === 0) malformed("non-minimal length", offset);
      start += n;
    }
    const end = start + length;
    if (end > this.end) malformed("element runs past its container", offset);
    this.at = end;
    return { tag, offset, start, end };
  }

  /** Reads the next element and requires its tag. */
  expect(tag: number, what: string): DerElement {
    const el = this.next();
    if (el.tag !== tag) malformed(`${what}: expected tag 0x${hex(tag)}, found 0x${hex(el.tag)}`, el.offset);
    return el;
  }

  /** Reads the next element only if it has this tag (an OPTIONAL or DEFAULT field). */
  optional(tag: number, what: string): DerElement | undefined {
    return this.peekTag() === tag ? this.expect(tag, what) : undefined;
  }

  /** Requires that nothing follows: trailing bytes are an error in DER. */
  finish(what: string): void {
    if (this.at !== this.end) malformed(`${what}: unexpected bytes after the last field`, this.at);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** The one element that makes up the content of `el` (an extension's OCTET STRING wraps exactly one value). */
export function soleElement(der: Uint8Array, el: DerElement, tag: number, what: string): DerElement {
  const cursor = DerCursor.inside(der, el);
  const inner = cursor.expect(tag, what);
  cursor.finish(what);
  return inner;
}

/** A DER BOOLEAN: one octet, 0x00 or 0xFF. */
export function readBoolean(der: Uint8Array, el: DerElement, what: string): boolean {
  if (el.tag !== DerTag.BOOLEAN || el.end - el.start !== 1) malformed(`${what}: expected a one-octet BOOLEAN`, el.offset);
  const v = der[el.start];
  if (v !== 0x00 && v !== 0xff) malformed(`${what}: BOOLEAN must be 00 or FF`, el.offset);
  return v === 0xff;
}

/** A small non-negative INTEGER (a version number): minimal, at most 0x7f. */
export function readSmallInteger(der: Uint8Array, el: DerElement, what: string): number {
  if (el.tag !== DerTag.INTEGER || el.end - el.start !== 1) malformed(`${what}: expected a small INTEGER`, el.offset);
  const v = der[el.start] as number;
  if (v & 0x80) malformed(`${what}: must not be negative`, el.offset);
  return v;
}

/** An OBJECT IDENTIFIER as dotted text; arcs must be minimally encoded. */
export function readOid(der: Uint8Array, el: DerElement, what: string): string {
  if (el.tag !== DerTag.OID || el.end === el.start) malformed(`${what}: expected an OBJECT IDENTIFIER`, el.offset);
  if ((der[el.end - 1] as number) & 0x80) malformed(`${what}: OBJECT IDENTIFIER ends inside an arc`, el.offset);
  let text = "";
  let value = 0;
  let arcStart = true;
  for (let i = el.start; i < el.end; i++) {
    const byte = der[i] as number;
    if (arcStart && byte === 0x80) malformed(`${what}: non-minimal OBJECT IDENTIFIER arc`, el.offset);
    // 2^46 keeps value * 128 + 127 an exact integer; real arcs are far smaller.
    if (value > 2 ** 46) malformed(`${what}: OBJECT IDENTIFIER arc too large`, el.offset);
    value = value * 128 + (byte & 0x7f);
    arcStart = (byte & 0x80) === 0;
    if (!arcStart) continue;
    // The first encoded arc packs the first two: 40 * a + b (a ≤ 2).
    if (text === "") text = value < 80 ? `${Math.floor(value / 40)}.${value % 40}` : `2.${value - 80}`;
    else text += `.${value}`;
    value = 0;
  }
  return text;
}

/** A BIT STRING's content: the octets and how many trailing bits of the last one are unused (and zero, as DER requires). */
export function readBitString(der: Uint8Array, el: DerElement, what: string): { bytes: Uint8Array; unusedBits: number } {
  if (el.tag !== DerTag.BIT_STRING || el.end === el.start) malformed(`${what}: expected a BIT STRING`, el.offset);
  const unusedBits = der[el.start] as number;
  const bytes = der.subarray(el.start + 1, el.end);
  if (unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) malformed(`${what}: bad unused-bit count`, el.offset);
  const last = bytes[bytes.length - 1] ?? 0;
  if (last & ((1 << unusedBits) - 1)) malformed(`${what}: unused bits must be zero`, el.offset);
  return { bytes, unusedBits };
}

/** An IA5String (ASCII) as text. */
export function readIa5(der: Uint8Array, el: DerElement, what: string): string {
  let text = "";
  for (let i = el.start; i < el.end; i++) {
    const byte = der[i] as number;
    if (byte > 0x7f) malformed(`${what}: not an IA5 (ASCII) string`, el.offset);
    text += String.fromCharCode(byte);
  }
  return text;
}

/**
 * A certificate time (RFC 5280 §4.1.2.5) in milliseconds since the epoch:
 * UTCTime YYMMDDHHMMSSZ (YY < 50 is 20YY) or GeneralizedTime
 * YYYYMMDDHHMMSSZ: always UTC, always with seconds, no fractions.
 */
export function readTime(der: Uint8Array, el: DerElement, what: string): number {
  const digits = el.tag === DerTag.UTC_TIME ? 12 : el.tag === DerTag.GENERALIZED_TIME ? 14 : malformed(`${what}: expected UTCTime or GeneralizedTime`, el.offset);
  if (el.end - el.start !== digits + 1 || der[el.end - 1] !== 0x5a /* Z */) {
    malformed(`${what}: time must be ${digits === 12 ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ"}`, el.offset);
  }
  let at = el.start;
  const num = (n: number): number => {
    let v = 0;
    for (const stop = at + n; at < stop; at++) {
      const d = (der[at] as number) - 0x30;
      if (d < 0 || d > 9) malformed(`${what}: time has a non-digit`, el.offset);
      v = v * 10 + d;
    }
    return v;
  };
  let year = num(digits === 12 ? 2 : 4);
  if (digits === 12) year += year < 50 ? 2000 : 1900;
  const month = num(2);
  const day = num(2);
  const hour = num(2);
  const minute = num(2);
  const second = num(2);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 April over to 1 May; a round trip catches every out-of-range field.
  const d = new Date(ms);
  if (
    month < 1 ||
    d.getUTCFullYear() !== year ||
    d.getUTCMonth() !== month - 1 ||
    d.getUTCDate() !== day ||
    d.getUTCHours() !== hour ||
    d.getUTCMinutes() !== minute ||
    d.getUTCSeconds() !== second
  ) {
    malformed(`${what}: time is out of range`, el.offset);
  }
  return ms;
}
