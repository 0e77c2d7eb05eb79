/**
 * Strict readers of the DER primitive values certificates and CSRs carry:
 * BOOLEAN, small INTEGER, BIT STRING, IA5String and the RFC 5280 times.
 * Each checks the tag and the one encoding DER allows; anything else throws
 * DerError DER_MALFORMED naming the field (`what`).
 */
import { malformed } from "./errors.js";
import type { DerElement } from "./reader.js";
import { DerTag } from "./tags.js";

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

/** The octets of a BIT STRING that must have no unused bits (public keys, signatures). */
export function readBitStringOctets(der: Uint8Array, el: DerElement, what: string): Uint8Array {
  const { bytes, unusedBits } = readBitString(der, el, what);
  if (unusedBits !== 0) malformed(`${what}: BIT STRING has unused bits`, el.offset);
  return bytes;
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
