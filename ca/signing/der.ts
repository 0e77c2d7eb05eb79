/**
 * The little DER (X.690) the issuance hot path needs: a strict reader that
 * walks untrusted input (CSRs) without building objects, and a writer that
 * concatenates prepared byte strings. @peculiar/x509 stays off the hot path
 * because its schema-driven (de)serialisation costs more than the signature.
 */

/** ASN.1 universal and context tags used by CSRs and certificates. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Input is not well-formed DER; the message says where. */
export class DerError extends Error {
  override readonly name = "DerError";
}

/** One tag-length-value element: `start..end` is the content, `offset..end` the whole element. */
export interface Tlv {
  readonly tag: number;
  readonly offset: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Reads the element at `offset`, which must end at or before `limit`.
 * Refuses multi-byte tags, indefinite and non-minimal lengths (BER, not DER).
 */
export function readTlv(der: Uint8Array, offset: number, limit: number = der.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated element at byte ${offset}`);
  const tag = der[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at byte ${offset} is not supported`);
  const first = der[offset + 1] as number;
  let start = offset + 2;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0) throw new DerError(`indefinite length at byte ${offset} is not DER`);
    if (n > 4) throw new DerError(`length of element at byte ${offset} is too large`);
    if (start + n > limit) throw new DerError(`truncated length at byte ${offset}`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (der[start + i] as number);
    if (der[start] === 0 || length < 0x80) throw new DerError(`non-minimal length at byte ${offset} is not DER`);
    start += n;
  }
  const end = start + length;
  if (end > limit) throw new DerError(`element at byte ${offset} runs past its container`);
  return { tag, offset, start, end };
}

/** Reads an element and checks its tag. */
export function expectTlv(der: Uint8Array, offset: number, limit: number, tag: number, what: string): Tlv {
  const tlv = readTlv(der, offset, limit);
  if (tlv.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)} at byte ${offset}`);
  }
  return tlv;
}

/** The children of a constructed element, in order. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The bytes of a whole element (tag, length and content). */
export function elementBytes(der: Uint8Array, tlv: Tlv): Uint8Array {
  return der.subarray(tlv.offset, tlv.end);
}

/** The content of an OBJECT IDENTIFIER as dotted text. */
export function decodeOid(der: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== Tag.OID || tlv.end === tlv.start) throw new DerError(`expected an OBJECT IDENTIFIER at byte ${tlv.offset}`);
  const parts: number[] = [];
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) {
    const byte = der[i] as number;
    if (value === 0 && byte === 0x80) throw new DerError(`non-minimal OID arc at byte ${i}`);
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`OID arc too large at byte ${i}`);
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  if ((der[tlv.end - 1] as number) & 0x80) throw new DerError(`truncated OID at byte ${tlv.offset}`);
  return parts.join(".");
}

/**
 * decodeOid with a fast path for the OIDs a caller expects: their content
 * octets are compared byte for byte first (an exact match is canonical DER),
 * so the common case builds no dotted string; anything else is decoded.
 */
export function oidReader(expected: readonly string[]): (der: Uint8Array, tlv: Tlv) => string {
  const table = expected.map((oid) => {
    const encoded = encodeOid(oid);
    return { oid, content: encoded.subarray(encoded.length - (encoded[1] as number)) };
  });
  return (der, tlv) => {
    if (tlv.tag === Tag.OID) {
      const length = tlv.end - tlv.start;
      for (const { oid, content } of table) {
        if (content.length !== length) continue;
        let i = 0;
        while (i < length && der[tlv.start + i] === content[i]) i++;
        if (i === length) return oid;
      }
    }
    return decodeOid(der, tlv);
  };
}

/** The content octets of a BIT STRING without unused bits (public keys, signatures). */
export function bitStringBytes(der: Uint8Array, tlv: Tlv): Uint8Array {
  if (tlv.tag !== Tag.BIT_STRING || tlv.end === tlv.start) throw new DerError(`expected a BIT STRING at byte ${tlv.offset}`);
  if (der[tlv.start] !== 0) throw new DerError(`BIT STRING at byte ${tlv.offset} has unused bits`);
  return der.subarray(tlv.start + 1, tlv.end);
}

// ---- writing ----

/** The DER length octets for `length`. */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element from a tag and content parts, concatenated once. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let length = 0;
  for (const c of content) length += c.length;
  const header = encodeLength(length);
  const out = Buffer.allocUnsafe(1 + header.length + length);
  out[0] = tag;
  out.set(header, 1);
  let at = 1 + header.length;
  for (const c of content) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** SEQUENCE of the given encoded elements. */
export function sequence(...elements: Uint8Array[]): Buffer {
  return tlv(Tag.SEQUENCE, ...elements);
}

/** An OBJECT IDENTIFIER element from dotted text. */
export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(Tag.OID, Uint8Array.from(bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function encodeUnsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  const pad = ((trimmed[0] ?? 0) & 0x80) !== 0 || trimmed.length === 0;
  return pad ? tlv(Tag.INTEGER, Uint8Array.of(0), trimmed) : tlv(Tag.INTEGER, trimmed);
}

/** A BIT STRING with no unused bits. */
export function encodeBitString(bytes: Uint8Array): Buffer {
  return tlv(Tag.BIT_STRING, Uint8Array.of(0), bytes);
}

/**
 * RFC 5280 §4.1.2.5 time: UTCTime through 2049, GeneralizedTime from 2050,
 * always in seconds with "Z" (fractions are truncated).
 */
export function encodeTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year <= 2049) return tlv(Tag.UTC_TIME, Buffer.from(`${two(year % 100)}${rest}`, "latin1"));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${String(year).padStart(4, "0")}${rest}`, "latin1"));
}

// ---- writing in place (the issuance hot path: one buffer per certificate, no intermediate parts) ----

/** Bytes of a tag plus the DER length octets for `length`. */
export function headerSize(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  return 6;
}

/** Bytes of a whole element with `length` content bytes. */
export function elementSize(length: number): number {
  return headerSize(length) + length;
}

/** Writes tag and length octets at `at`; returns the offset of the content. */
export function writeHeader(out: Uint8Array, at: number, tag: number, length: number): number {
  out[at++] = tag;
  if (length < 0x80) {
    out[at++] = length;
    return at;
  }
  const n = headerSize(length) - 2;
  out[at++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) out[at++] = (length >>> (8 * i)) & 0xff;
  return at;
}

/** Size of the RFC 5280 time element encodeTime writes for `date`. */
export function timeSize(date: Date): number {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? 15 : 17;
}

/** Writes the element encodeTime would return at `at`; returns the offset after it. */
export function writeTime(out: Uint8Array, at: number, date: Date): number {
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year <= 2049;
  out[at++] = utc ? Tag.UTC_TIME : Tag.GENERALIZED_TIME;
  out[at++] = utc ? 13 : 15;
  const digits = (n: number, count: number): void => {
    for (let i = count - 1; i >= 0; i--) {
      out[at + i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    at += count;
  };
  if (utc) digits(year % 100, 2);
  else digits(year, 4);
  digits(date.getUTCMonth() + 1, 2);
  digits(date.getUTCDate(), 2);
  digits(date.getUTCHours(), 2);
  digits(date.getUTCMinutes(), 2);
  digits(date.getUTCSeconds(), 2);
  out[at++] = 0x5a; // "Z"
  return at;
}
