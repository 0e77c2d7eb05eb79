/**
 * The little DER (X.690) the issuance hot path writes: elements
 * concatenated from prepared byte strings (the parts fixed per signing key),
 * and in-place writing of one certificate into one buffer. Reading untrusted
 * DER (CSRs) is lib/der's strict reader. @peculiar/x509 stays off the hot
 * path because its schema-driven serialisation costs more than the signature.
 */
import { oidContent } from "../../lib/der/oid.js";
import { DerTag } from "../../lib/der/tags.js";

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
  return tlv(DerTag.SEQUENCE, ...elements);
}

/** An OBJECT IDENTIFIER element from dotted text. */
export function encodeOid(dotted: string): Buffer {
  return tlv(DerTag.OID, oidContent(dotted));
}

/** INTEGER content octets of a non-negative magnitude: minimal, with a 0x00 sign octet when the top bit is set. */
export function unsignedIntegerContent(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  if (trimmed.length > 0 && ((trimmed[0] as number) & 0x80) === 0) return trimmed;
  const padded = new Uint8Array(trimmed.length + 1);
  padded.set(trimmed, 1);
  return padded;
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

/** Size of the RFC 5280 time element writeTime writes for `date`. */
export function timeSize(date: Date): number {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? 15 : 17;
}

/**
 * Writes an RFC 5280 §4.1.2.5 time at `at`: UTCTime through 2049,
 * GeneralizedTime from 2050, always in seconds with "Z" (fractions are
 * truncated). Returns the offset after it.
 */
export function writeTime(out: Uint8Array, at: number, date: Date): number {
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year <= 2049;
  out[at++] = utc ? DerTag.UTC_TIME : DerTag.GENERALIZED_TIME;
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
