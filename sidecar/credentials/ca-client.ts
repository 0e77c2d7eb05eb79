/**
 * The mesh-ca HTTP API as the sidecar uses it (docs/ca.md "HTTP
 * API"): `POST /v1/svid` and `GET /v1/bundle.json`, over HTTPS whose server
 * certificate is verified against our trust bundle (the bootstrap bundle
 * until the CA sends a newer one). One connection per request (agent: false):
 * requests are rare and credentials differ between them.
 */
import { request } from "node:https";
import type { IncomingMessage } from "node:http";
import { formatDuration } from "../../lib/duration.js";
import { AEAD_CIPHERS } from "../../lib/tls/ciphers.js";
import { DEFAULT_GROUPS, ecdhCurveOf, type TlsGroup } from "../../lib/tls/groups.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";

/** The body of a 200 answer to POST /v1/svid. */
export interface SvidAnswer {
  readonly spiffeId: string;
  /** Leaf PEM then intermediates. */
  readonly certChain: string;
  /** Roots PEM. */
  readonly bundle: string;
  readonly expiresAt: string;
}

/** How a request authenticates: a bearer token (Kubernetes or join token), or our current SVID (renewal). */
export type CaCredential = { readonly kind: "bearer"; readonly token: string } | { readonly kind: "svid"; readonly keyPem: string; readonly certChainPem: string };

/** Options of CaClient. */
export interface CaClientOptions {
  readonly url: URL;
  /** Roots that must sign the CA's serving certificate; read on every request. */
  readonly trustedRoots: () => string;
  readonly timeoutMs?: number;
  /** Key-exchange groups offered to the CA (the sidecar's `tls.groups`); default DEFAULT_GROUPS. */
  readonly groups?: readonly TlsGroup[];
}

const MAX_BODY_BYTES = 1 << 20;
const DEFAULT_TIMEOUT_MS = 10_000;

/** A small client for mesh-ca; every failure is a SidecarError with a stable code. */
export class CaClient {
  constructor(private readonly opts: CaClientOptions) {}

  /** Sends a CSR and returns the CA's answer, checked for shape (not yet for content). */
  async requestSvid(csrPem: string, credential: CaCredential, ttlMs?: number): Promise<SvidAnswer> {
    const body = JSON.stringify(ttlMs === undefined ? { csr: csrPem } : { csr: csrPem, ttl: formatDuration(ttlMs) });
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (credential.kind === "bearer") headers.authorization = `Bearer ${credential.token}`;
    const tls = credential.kind === "svid" ? { key: credential.keyPem, cert: credential.certChainPem } : {};
    const { status, text } = await this.send("POST", "/v1/svid", headers, body, tls);
    if (status !== 200) throw refusal(status, text.body, text.retryAfter);
    return parseAnswer(text.body);
  }

  /** GET /v1/bundle.json: the roots as SPIFFE bundle JSON, with the CA's sequence and refresh hint. */
  async fetchBundleJson(): Promise<string> {
    const { status, text } = await this.send("GET", "/v1/bundle.json", { accept: "application/json" }, undefined, {});
    if (status !== 200) throw refusal(status, text.body, text.retryAfter);
    return text.body;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    tls: { key?: string; cert?: string },
  ): Promise<{ status: number; text: { body: string; retryAfter: string | undefined } }> {
    const target = new URL(path.replace(/^\//, ""), this.opts.url.href.endsWith("/") ? this.opts.url : `${this.opts.url.href}/`);
    return new Promise((resolve, reject) => {
      const req = request(
        target,
        {
          method,
          headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) },
          ca: this.opts.trustedRoots(),
          agent: false,
          timeout: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          minVersion: "TLSv1.2",
          // No finite-field groups and no DHE suites: a server (or whoever answers in its place) cannot make us compute ffdhe8192.
          ciphers: AEAD_CIPHERS,
          ecdhCurve: ecdhCurveOf(this.opts.groups ?? DEFAULT_GROUPS),
          ...tls,
        },
        (res) => {
          readBody(res).then(
            (text) => resolve({ status: res.statusCode ?? 0, text: { body: text, retryAfter: header(res, "retry-after") } }),
            (err: unknown) => reject(unreachable(`reading the answer from ${target.origin} failed: ${(err as Error).message}`, err)),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)));
      req.on("error", (err) => reject(unreachable(`cannot reach mesh-ca at ${target.origin}: ${describeNetError(err)}`, err)));
      req.end(body);
    });
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

const UNTRUSTED_SERVER_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

function describeNetError(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code !== undefined && UNTRUSTED_SERVER_CODES.has(code)) {
    return `its TLS certificate does not chain to ca.bundleFile (${code}); check that the bootstrap bundle is the CA's`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `its TLS certificate is not valid for this host name (${err.message})`;
  return code ? `${code}: ${err.message}` : err.message;
}

function unreachable(message: string, cause: unknown): SidecarError {
  return new SidecarError(SidecarErrorCode.CA_UNREACHABLE, message, {}, { cause });
}

function refusal(status: number, body: string, retryAfter: string | undefined): SidecarError {
  let code: string | undefined;
  let message = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === "string") code = parsed.error.code;
    if (typeof parsed.error?.message === "string") message = `${message} ${code ?? ""}: ${parsed.error.message}`.replace(" :", ":");
  } catch {
    // Not the documented error shape (a proxy in between?): the status alone is reported.
  }
  const seconds = retryAfter === undefined ? NaN : Number(retryAfter);
  return new SidecarError(SidecarErrorCode.CA_REFUSED, `mesh-ca refused the request: ${message}`, {
    status,
    ...(code === undefined ? {} : { caCode: code }),
    ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {}),
  });
}

function parseAnswer(body: string): SvidAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SidecarError(SidecarErrorCode.CA_BAD_RESPONSE, "mesh-ca answered 200 with a body that is not JSON");
  }
  const o = parsed as Record<string, unknown>;
  const missing = ["spiffeId", "certChain", "bundle", "expiresAt"].filter((k) => typeof o?.[k] !== "string" || o[k] === "");
  if (missing.length > 0) {
    throw new SidecarError(SidecarErrorCode.CA_BAD_RESPONSE, `mesh-ca's answer lacks ${missing.join(", ")}`);
  }
  return { spiffeId: o.spiffeId as string, certChain: o.certChain as string, bundle: o.bundle as string, expiresAt: o.expiresAt as string };
}
