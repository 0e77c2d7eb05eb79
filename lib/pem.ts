/**
 * PEM framing (RFC 7468): text with `-----BEGIN <label>-----` blocks around
 * base64 DER. Nothing here knows what the DER holds; callers check the labels
 * and translate the plain Error into their own refusal (SVID_MALFORMED,
 * BUNDLE_MALFORMED, ...).
 */

/** One PEM block: its label (e.g. "CERTIFICATE") and DER bytes. */
export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Splits PEM text into blocks; throws Error if a block is unterminated or not base64. */
export function pemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const label = m[1] as string;
    const body = (m[2] as string).replace(/\s+/g, "");
    if (!BASE64.test(body)) throw new Error(`PEM block ${label} #${blocks.length + 1} is not valid base64`);
    blocks.push({ label, der: Buffer.from(body, "base64") });
  }
  const begins = pem.split("-----BEGIN ").length - 1;
  if (begins !== blocks.length) throw new Error("PEM text has a BEGIN line without a matching END line");
  return blocks;
}
