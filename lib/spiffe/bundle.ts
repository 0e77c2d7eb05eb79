/**
 * A trust domain's X.509 trust bundle: its root (signing) certificates, read
 * and written as PEM and as SPIFFE bundle JSON (SPIFFE Trust Domain and Bundle
 * §4, X509-SVID §6). Built once and validated whole, then shared: the PEM is
 * what a TLS context's `ca` takes, so it is computed once.
 *
 * Reading SPIFFE JSON (decisions):
 * - keys whose `use` is not "x509-svid" (e.g. "jwt-svid") are ignored, as §4.2.2 requires;
 * - an x509-svid key must hold exactly one standard-base64 certificate in
 *   `x5c` whose public key equals the JWK's; we refuse rather than ignore
 *   (stricter than §6.2) so a damaged bundle never silently drops a root;
 * - `kid` is accepted and ignored (X509-SVID §6.1 forbids writing it; reading
 *   it harms nothing); we never write it.
 */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { type PemBlock, pemBlocks } from "../pem.js";
import { x509 } from "../x509.js";
import { type CertificateInput, toNodeCertificate } from "./certificates.js";
import { BundleError, BundleErrorCode, SvidError } from "./errors.js";
import type { TrustDomain } from "./id.js";

/** One `x509-svid` JWK of a SPIFFE bundle. */
export interface X509SvidJwk {
  use: "x509-svid";
  kty: string;
  x5c: [string];
  [param: string]: unknown;
}

/** SPIFFE bundle JSON (a JWK Set with SPIFFE parameters). */
export interface SpiffeBundleJson {
  keys: X509SvidJwk[];
  spiffe_sequence?: number;
  spiffe_refresh_hint?: number;
}

/** Sequence and refresh hint carried in SPIFFE bundle JSON. */
export interface BundleMetadata {
  sequence?: number;
  refreshHintSeconds?: number;
}

const STD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The root certificates trusted for one trust domain. */
export class TrustBundle {
  private readonly fingerprints: ReadonlySet<string>;
  private cachedPem: string | undefined;

  private constructor(
    readonly trustDomain: TrustDomain,
    /** Unique roots, in input order. */
    readonly roots: readonly NodeX509Certificate[],
    readonly metadata: Readonly<BundleMetadata>,
  ) {
    this.fingerprints = new Set(roots.map((r) => r.fingerprint256));
  }

  /** Builds a bundle from CA certificates; throws BundleError if empty or one is not a CA. */
  static fromCertificates(td: TrustDomain, certs: readonly CertificateInput[], metadata: BundleMetadata = {}): TrustBundle {
    const roots: NodeX509Certificate[] = [];
    const seen = new Set<string>();
    certs.forEach((input, i) => {
      const cert = parseRoot(input, i);
      if (seen.has(cert.fingerprint256)) return;
      seen.add(cert.fingerprint256);
      roots.push(cert);
    });
    if (roots.length === 0) throw new BundleError(BundleErrorCode.EMPTY, `trust bundle for ${td.name} has no certificates`);
    return new TrustBundle(td, Object.freeze(roots), Object.freeze({ ...metadata }));
  }

  /** Parses PEM roots; only CERTIFICATE blocks are allowed (a stray private key is refused). */
  static fromPem(td: TrustDomain, pem: string): TrustBundle {
    if (pem.trim() === "") throw new BundleError(BundleErrorCode.EMPTY, `trust bundle for ${td.name} is empty`);
    let blocks: PemBlock[];
    try {
      blocks = pemBlocks(pem);
    } catch (err) {
      throw new BundleError(BundleErrorCode.MALFORMED, `trust bundle: ${(err as Error).message}`);
    }
    if (blocks.length === 0) throw new BundleError(BundleErrorCode.MALFORMED, "trust bundle has no PEM CERTIFICATE block");
    blocks.forEach((b, i) => {
      if (b.label !== "CERTIFICATE") {
        throw new BundleError(BundleErrorCode.MALFORMED, `trust bundle block #${i + 1} is ${b.label}; only CERTIFICATE blocks are allowed`);
      }
    });
    return TrustBundle.fromCertificates(td, blocks.map((b) => b.der));
  }

  /** Parses SPIFFE bundle JSON (text or parsed value); see the module comment for what is refused. */
  static fromSpiffeJson(td: TrustDomain, json: string | unknown): TrustBundle {
    let doc: unknown = json;
    if (typeof json === "string") {
      try {
        doc = JSON.parse(json);
      } catch (err) {
        throw new BundleError(BundleErrorCode.MALFORMED, `SPIFFE bundle is not JSON: ${(err as Error).message}`);
      }
    }
    if (!isObject(doc) || !Array.isArray(doc.keys)) {
      throw new BundleError(BundleErrorCode.MALFORMED, 'SPIFFE bundle must be a JSON object with a "keys" array');
    }
    const metadata: BundleMetadata = {};
    const sequence = optionalInteger(doc, "spiffe_sequence", 0);
    const refresh = optionalInteger(doc, "spiffe_refresh_hint", 1);
    if (sequence !== undefined) metadata.sequence = sequence;
    if (refresh !== undefined) metadata.refreshHintSeconds = refresh;
    const certs: NodeX509Certificate[] = [];
    (doc.keys as unknown[]).forEach((key, i) => {
      if (!isObject(key)) throw new BundleError(BundleErrorCode.INVALID_JWK, `keys[${i}] must be a JSON object`);
      if (key.use !== "x509-svid") return;
      certs.push(certificateFromJwk(key, i));
    });
    if (certs.length === 0) {
      throw new BundleError(BundleErrorCode.EMPTY, `SPIFFE bundle for ${td.name} has no x509-svid keys`);
    }
    return TrustBundle.fromCertificates(td, certs, metadata);
  }

  /** The roots as concatenated PEM, ready for a TLS context's `ca` option. */
  get pem(): string {
    this.cachedPem ??= this.roots.map((r) => r.toString()).join("");
    return this.cachedPem;
  }

  /** Same as `pem`. */
  toPem(): string {
    return this.pem;
  }

  /** The roots' DER encodings. */
  get rootsDer(): Buffer[] {
    return this.roots.map((r) => r.raw);
  }

  /** True when `cert` is one of the roots (by SHA-256 fingerprint). */
  hasRoot(cert: NodeX509Certificate): boolean {
    return this.fingerprints.has(cert.fingerprint256);
  }

  /** The soonest notAfter among the roots (for the bundle expiry metric). */
  earliestExpiry(): Date {
    let min = Infinity;
    for (const r of this.roots) min = Math.min(min, new Date(r.validTo).getTime());
    return new Date(min);
  }

  /** SPIFFE bundle JSON: one x509-svid JWK per root, one cert in x5c, no kid. */
  toSpiffeJson(metadata: BundleMetadata = this.metadata): SpiffeBundleJson {
    const out: SpiffeBundleJson = { keys: this.roots.map(jwkFromCertificate) };
    if (metadata.sequence !== undefined) out.spiffe_sequence = metadata.sequence;
    if (metadata.refreshHintSeconds !== undefined) out.spiffe_refresh_hint = metadata.refreshHintSeconds;
    return out;
  }
}

function parseRoot(input: CertificateInput, i: number): NodeX509Certificate {
  let cert: NodeX509Certificate;
  try {
    cert = toNodeCertificate(input);
  } catch (err) {
    if (!(err instanceof SvidError)) throw err;
    throw new BundleError(BundleErrorCode.MALFORMED, `trust bundle certificate #${i + 1} cannot be parsed`);
  }
  if (!cert.ca) {
    throw new BundleError(BundleErrorCode.NOT_CA, `trust bundle certificate #${i + 1} (${cert.subject || "empty subject"}) is not a CA: cA=false`);
  }
  // node:crypto does not expose KeyUsage; a CA whose KeyUsage lacks keyCertSign can sign nothing.
  const ku = new x509.X509Certificate(cert.raw).getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new BundleError(BundleErrorCode.NOT_CA, `trust bundle certificate #${i + 1} lacks keyCertSign in its KeyUsage`);
  }
  return cert;
}

function jwkFromCertificate(cert: NodeX509Certificate): X509SvidJwk {
  // node:crypto's JWK export is synchronous and yields the same RFC 7518
  // members as jose's exportJWK (bundle.test.ts checks that).
  const jwk = cert.publicKey.export({ format: "jwk" });
  return { use: "x509-svid", kty: String(jwk.kty), ...jwk, x5c: [cert.raw.toString("base64")] };
}

function certificateFromJwk(key: Record<string, unknown>, i: number): NodeX509Certificate {
  const x5c = key.x5c;
  if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== "string") {
    throw new BundleError(BundleErrorCode.INVALID_JWK, `keys[${i}].x5c must hold exactly one certificate`);
  }
  const b64 = x5c[0];
  if (!STD_BASE64.test(b64)) {
    throw new BundleError(BundleErrorCode.INVALID_JWK, `keys[${i}].x5c[0] must be standard base64 DER (not base64url, no line breaks)`);
  }
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(Buffer.from(b64, "base64"));
  } catch {
    throw new BundleError(BundleErrorCode.MALFORMED, `keys[${i}].x5c[0] is not a DER certificate`);
  }
  if (typeof key.kty !== "string") throw new BundleError(BundleErrorCode.INVALID_JWK, `keys[${i}].kty must be set`);
  const expected = cert.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
  for (const [param, value] of Object.entries(expected)) {
    if (key[param] !== value) {
      throw new BundleError(BundleErrorCode.KEY_MISMATCH, `keys[${i}].${param} does not match the public key of its x5c certificate`);
    }
  }
  return cert;
}

function optionalInteger(doc: Record<string, unknown>, name: string, min: number): number | undefined {
  const v = doc[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new BundleError(BundleErrorCode.MALFORMED, `${name} must be an integer >= ${min}`);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
