/**
 * OBJECT IDENTIFIERs: the strict reader (dotted text from DER content, arcs
 * minimally encoded), a reader with a byte-compare fast path for the OIDs a
 * caller expects, and the content encoding the CA's writer wraps in a tag.
 */
import { malformed } from "./errors.js";
import type { DerElement } from "./reader.js";
import { DerTag } from "./tags.js";

const MAX_ARC = 2 ** 46;

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
    value = value * 128 + (byte & 0x7f);
    // Arcs below 2^46 (so value * 128 + 127 stays exact): the stricter of the
    // two former readers' limits (the certificate reader let arcs reach 2^53,
    // where they are no longer exact). Real arcs are far smaller.
    if (value >= MAX_ARC) malformed(`${what}: OBJECT IDENTIFIER arc too large`, el.offset);
    arcStart = (byte & 0x80) === 0;
    if (!arcStart) continue;
    // The first encoded arc packs the first two: 40 * a + b (a ≤ 2).
    if (text === "") text = value < 80 ? `${Math.floor(value / 40)}.${value % 40}` : `2.${value - 80}`;
    else text += `.${value}`;
    value = 0;
  }
  return text;
}

/** The content octets of an OBJECT IDENTIFIER given as dotted text (base-128 arcs, the first two packed). */
export function oidContent(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return Uint8Array.from(bytes);
}

/**
 * readOid with a fast path for the OIDs a caller expects: their content
 * octets are compared byte for byte first (an exact match is canonical DER),
 * so the common case builds no dotted string; anything else is read strictly.
 */
export function oidReader(expected: readonly string[]): (der: Uint8Array, el: DerElement, what: string) => string {
  const table = expected.map((oid) => ({ oid, content: oidContent(oid) }));
  return (der, el, what) => {
    if (el.tag === DerTag.OID) {
      const length = el.end - el.start;
      for (const { oid, content } of table) {
        if (content.length !== length) continue;
        let i = 0;
        while (i < length && der[el.start + i] === content[i]) i++;
        if (i === length) return oid;
      }
    }
    return readOid(der, el, what);
  };
}
