/**
 * A strict, allocation-light DER (X.690 §10) reader for untrusted input:
 * certificates (lib/spiffe's SVID checks) and CSRs (the CA's issuance path).
 * It walks the bytes in place: no tree of objects, no copies, no schema.
 * Every read is bounds-checked against the enclosing element, and every BER
 * freedom that DER forbids is refused (indefinite or non-minimal lengths
 * here; values.ts and oid.ts refuse the rest), so one input has exactly one
 * reading. Anything wrong throws DerError DER_MALFORMED; the message says
 * where. Callers translate it at their edge (SVID_MALFORMED, INVALID_CSR).
 *
 * Termination: every element is at least two bytes and a cursor only moves
 * forward, so a loop over a cursor ends within length/2 steps of its input.
 */
import { malformed } from "./errors.js";

/** One element: its tag byte and where its content lies (`start..end`, end exclusive). */
export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte: `offset..end` is the whole element. */
  readonly offset: number;
  readonly start: number;
  readonly end: number;
}

/**
 * At most three length octets, so elements under 16 MiB. This is the
 * stricter of the limits of the two readers this one replaced (the CSR
 * reader allowed four): certificates and CSRs are a few KiB, and no API
 * body (limits.maxBodyBytes is at most 16 MiB of PEM) can hold a larger one.
 */
const MAX_LENGTH_OCTETS = 3;

/**
 * Reads the element at `offset`, which must end at or before `limit`.
 * Refuses multi-byte tags, indefinite and non-minimal lengths (BER, not DER).
 */
export function readElement(der: Uint8Array, offset: number, limit: number = der.length): DerElement {
  if (offset + 2 > limit) malformed("truncated element", offset);
  const tag = der[offset] as number;
  // Tag numbers ≥ 31 take more bytes; no certificate or CSR field uses them.
  if ((tag & 0x1f) === 0x1f) malformed("multi-byte tag", offset);
  const first = der[offset + 1] as number;
  let start = offset + 2;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0) malformed("indefinite length", offset);
    if (n > MAX_LENGTH_OCTETS) malformed("length field too long (16 MiB or more)", offset);
    if (start + n > limit) malformed("truncated length", offset);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (der[start + i] as number);
    // DER: the short form when it fits, and no leading zero octet.
    if (length < 0x80 || der[start] === 0) malformed("non-minimal length", offset);
    start += n;
  }
  const end = start + length;
  if (end > limit) malformed("element runs past its container", offset);
  return { tag, offset, start, end };
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
    const el = readElement(this.der, this.at, this.end);
    this.at = el.end;
    return el;
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

/** The children of a constructed element, in order (for structures read by position). */
export function children(der: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readElement(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The one element that makes up the content of `el` (an extension's OCTET STRING wraps exactly one value). */
export function soleElement(der: Uint8Array, el: DerElement, tag: number, what: string): DerElement {
  const cursor = DerCursor.inside(der, el);
  const inner = cursor.expect(tag, what);
  cursor.finish(what);
  return inner;
}

/** The bytes of a whole element (tag, length and content), without a copy. */
export function elementBytes(der: Uint8Array, el: DerElement): Uint8Array {
  return der.subarray(el.offset, el.end);
}
