/**
 * `POST /v1/svid`: authenticate, rate-limit, verify the CSR, sign, check,
 * answer. The order is deliberate: the credential is judged before the CSR
 * (401 before 400), the rate limit before the CSR's signature is verified
 * (the expensive part a flood would aim at), and a join token's use is taken
 * only once everything else has passed, right before signing.
 *
 * The SPIFFE ID always comes from the credential. A CSR may name no URI SAN
 * (the usual case) or exactly that ID; anything else is refused with 403.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../lib/clock.js";
import { parseDuration } from "../../lib/duration.js";
import type { Logger } from "../../lib/log.js";
import { presentedCredential, type AcceptedCredential, type Attestation, type Attestor } from "../attest/attestor.js";
import { attestorFor } from "../attest/attestors.js";
import type { BundleSettings, CaConfig } from "../config.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import type { CaMetrics, IssuanceMethod, IssuanceResult } from "../metrics.js";
import type { SigningSet } from "../signing/signing-set.js";
import { csrDerFromPem, verifyCsr } from "../signing/csr.js";
import { CsrError } from "../signing/errors.js";
import { mediaType, readBody, sendError, sendJson } from "./http.js";
import type { RateLimiter } from "./rate-limit.js";

/** What the handler needs; built once by the server. */
export interface SvidHandlerDeps {
  /** The signing set in force; read once per request, so a reload never changes a request half way. */
  signing: { readonly current: SigningSet };
  /** What the bundle endpoints tell clients. */
  bundle: BundleSettings;
  /** Every attestation method (ca/attest/attestors.ts). */
  attestors: readonly Attestor[];
  svid: CaConfig["svid"];
  maxBodyBytes: number;
  rateLimiter: RateLimiter;
  metrics: CaMetrics;
  logger: Logger;
  clock: Clock;
}

/** The accepted request: a PEM CSR and an optional lifetime. */
interface SvidRequest {
  csrPem: string;
  ttlMs: number | undefined;
}

const MIN_TTL_MS = 10_000;

function resultOf(err: ApiError): IssuanceResult {
  switch (err.code) {
    case ApiErrorCode.UNAUTHENTICATED:
      return "unauthenticated";
    case ApiErrorCode.FORBIDDEN:
      return "forbidden";
    case ApiErrorCode.RATE_LIMITED:
      return "rate_limited";
    case ApiErrorCode.INVALID_CSR:
    case ApiErrorCode.INVALID_REQUEST:
    case ApiErrorCode.BODY_TOO_LARGE:
    case ApiErrorCode.UNSUPPORTED_MEDIA_TYPE:
      return "invalid_csr";
    default:
      return "error";
  }
}

/** Handles one `POST /v1/svid`; never throws. */
export async function handleSvidRequest(req: IncomingMessage, res: ServerResponse, deps: SvidHandlerDeps): Promise<void> {
  const remoteAddress = req.socket.remoteAddress ?? "unknown";
  let method: IssuanceMethod | undefined;
  let fingerprint: Readonly<Record<string, string>> = {};
  try {
    const { attestor, accepted } = acceptedCredential(req, deps.attestors);
    method = attestor.method;
    fingerprint = accepted.fingerprint;
    const type = mediaType(req);
    if (type !== "application/json" && type !== "application/pkcs10") {
      throw new ApiError(ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, 'send Content-Type: application/json with {"csr": "<PEM>"} (or application/pkcs10 with the PEM CSR)', {
        reason: "unsupported_media_type",
      });
    }
    const body = await readBody(req, deps.maxBodyBytes);
    const attestation = await accepted.attest(new Date(deps.clock.now()));
    const decision = deps.rateLimiter.take(attestation.id.toString(), deps.clock.now());
    if (!decision.allowed) {
      throw new ApiError(ApiErrorCode.RATE_LIMITED, `too many SVID requests for this identity; retry after ${decision.retryAfterSeconds} s`, {
        reason: "rate_limited",
        detail: { spiffeId: attestation.id.toString() },
        headers: { "retry-after": String(decision.retryAfterSeconds) },
      });
    }
    const request = type === "application/json" ? parseJsonRequest(body) : parsePkcs10Request(body, req.url ?? "");
    const csr = checkedCsr(request.csrPem, attestation);
    await attestation.commit?.();
    const lifetimeMs = Math.min(request.ttlMs ?? deps.svid.defaultTtlMs, deps.svid.maxTtlMs);
    const started = process.hrtime.bigint();
    // issueChecked runs lib/spiffe checkIssuedSvid on the new certificate; one
    // that fails throws AuthorityError, answered as 500 INTERNAL and logged.
    const { authority } = deps.signing.current;
    const issued = authority.issueChecked({
      id: attestation.id,
      spki: csr.spki,
      subjectPublicKey: csr.subjectPublicKey,
      lifetimeMs,
      backdateMs: deps.svid.backdateMs,
      now: new Date(deps.clock.now()),
    });
    deps.metrics.signDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    deps.metrics.svidRequests.inc({ method: attestation.method, result: "issued" });
    deps.logger.info(
      {
        event: "svid_issued",
        serial: issued.serialHex,
        spiffeId: issued.id.toString(),
        method: attestation.method,
        notAfter: issued.notAfter.toISOString(),
        remoteAddress,
        ...attestation.credential,
        csrKey: csr.keyDescription,
      },
      "issued SVID",
    );
    sendJson(res, 200, {
      spiffeId: issued.id.toString(),
      certChain: issued.chainPem,
      bundle: authority.bundle.pem,
      expiresAt: issued.notAfter.toISOString(),
    });
  } catch (thrown) {
    const err = thrown instanceof ApiError ? thrown : internalError(thrown);
    if (method) deps.metrics.svidRequests.inc({ method, result: resultOf(err) });
    const fields = { event: "svid_refused", method, code: err.code, reason: err.reason, remoteAddress, ...fingerprint, ...err.detail };
    if (err.status >= 500) deps.logger.error({ ...fields, err: err.cause ?? thrown }, err.message);
    else deps.logger.warn(fields, err.message);
    sendError(res, err);
  }
}

function internalError(cause: unknown): ApiError {
  return new ApiError(ApiErrorCode.INTERNAL, "the CA failed to process the request; it has been logged", { reason: "internal", cause });
}

/** The credential the request presents and the attestor that takes it; throws ApiError 401 when there is none. */
function acceptedCredential(req: IncomingMessage, attestors: readonly Attestor[]): { attestor: Attestor; accepted: AcceptedCredential } {
  const found = attestorFor(attestors, presentedCredential(req));
  if (!found) throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "no attestation method of this CA accepts the credential", { reason: "no_attestor" });
  return found;
}

function invalidRequest(message: string): ApiError {
  return new ApiError(ApiErrorCode.INVALID_REQUEST, message, { reason: "invalid_request" });
}

function parseTtl(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === "string" ? parseDuration(value) : undefined;
  if (ms === undefined) throw invalidRequest('ttl must be a duration such as "1h" or "30m"');
  if (ms < MIN_TTL_MS) throw invalidRequest(`ttl must be at least ${MIN_TTL_MS / 1000}s`);
  return ms;
}

function parseJsonRequest(body: Buffer): SvidRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw invalidRequest('body is not JSON: send {"csr": "<PEM CSR>", "ttl": "1h"}');
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalidRequest('body must be a JSON object: {"csr": "<PEM CSR>"}');
  const { csr, ttl } = doc as { csr?: unknown; ttl?: unknown };
  if (typeof csr !== "string" || csr === "") throw invalidRequest('body must have "csr": a PEM certificate signing request');
  return { csrPem: csr, ttlMs: parseTtl(ttl) };
}

function parsePkcs10Request(body: Buffer, url: string): SvidRequest {
  const ttl = new URL(url, "https://mesh-ca").searchParams.get("ttl");
  return { csrPem: body.toString("latin1"), ttlMs: parseTtl(ttl ?? undefined) };
}

function checkedCsr(csrPem: string, attestation: Attestation): ReturnType<typeof verifyCsr> {
  let csr: ReturnType<typeof verifyCsr>;
  try {
    csr = verifyCsr(csrDerFromPem(csrPem));
  } catch (err) {
    if (err instanceof CsrError) throw new ApiError(ApiErrorCode.INVALID_CSR, err.message, { reason: "invalid_csr" });
    throw err;
  }
  const wanted = attestation.id.toString();
  if (csr.uris.length > 1 || (csr.uris.length === 1 && csr.uris[0] !== wanted)) {
    throw new ApiError(ApiErrorCode.FORBIDDEN, `CSR asks for a URI SAN other than ${wanted}, the ID your credential proves; leave SANs out of the CSR`, {
      reason: "csr_foreign_id",
      detail: { spiffeId: wanted, requested: csr.uris.slice(0, 3).map((u) => u.slice(0, 200)) },
    });
  }
  return csr;
}
