/**
 * Token verification by the Kubernetes API (`attestation.kubernetes.mode:
 * tokenReview`, the default in a cluster): `POST
 * /apis/authentication.k8s.io/v1/tokenreviews` with our audience, which also
 * catches tokens whose pod or service account was deleted. The CA
 * authenticates with its own service-account token, re-read on every call
 * because the kubelet rotates it; the cluster CA file is re-read too.
 * Positive answers are cached briefly by the token's SHA-256 so a burst of
 * requests with one token makes one review; negative answers are not cached.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { systemClock, type Clock } from "../../lib/clock.js";
import { AEAD_CIPHERS } from "../../lib/tls/ciphers.js";
import { DEFAULT_GROUPS, ecdhCurveOf, type TlsGroup } from "../../lib/tls/groups.js";
import { ApiError, ApiErrorCode } from "../errors.js";

/** Options of TokenReviewClient. */
export interface TokenReviewOptions {
  apiServer: URL;
  /** The CA's own service-account token. */
  tokenFile: string;
  /** The cluster CA that signs the API server's certificate. */
  caFile: string;
  audience: string;
  cacheTtlMs: number;
  /** Clock for cache expiry; default systemClock. */
  clock?: Clock;
  timeoutMs?: number;
  /** Key-exchange groups offered to the API server (the CA's `tls.groups`); default DEFAULT_GROUPS. */
  groups?: readonly TlsGroup[];
}

/** The API server's verdict on a token that it authenticated. */
export interface TokenReviewResult {
  username: string;
  /** True when the answer came from the cache. */
  cached: boolean;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

const MAX_CACHE_ENTRIES = 10_000;
const MAX_ANSWER_BYTES = 1 << 20;

/** Asks the Kubernetes API whether a service-account token is valid for our audience. */
export class TokenReviewClient {
  private readonly cache = new Map<string, { username: string; until: number }>();
  private readonly clock: Clock;

  constructor(private readonly opts: TokenReviewOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * Reviews `token`; `expiresAt` (from its claims) bounds the cache entry.
   * Throws ApiError UNAUTHENTICATED when the API server says no, UNAVAILABLE when it cannot be asked.
   */
  async review(token: string, expiresAt: Date): Promise<TokenReviewResult> {
    const key = createHash("sha256").update(token).digest("hex");
    const now = this.clock.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return { username: hit.username, cached: true };
    if (hit) this.cache.delete(key);

    const status = await this.ask(token);
    if (status.authenticated !== true) {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "token was rejected by the Kubernetes API (expired, revoked, or its pod or service account was deleted)", {
        reason: "tokenreview_unauthenticated",
        detail: { apiError: typeof status.error === "string" ? status.error.slice(0, 300) : undefined },
      });
    }
    // An empty status.audiences means "valid for the API server", not for us (TokenReview API docs).
    if (!Array.isArray(status.audiences) || !status.audiences.includes(this.opts.audience)) {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, `token audience is not ${this.opts.audience}`, {
        reason: "tokenreview_wrong_audience",
        detail: { audiences: Array.isArray(status.audiences) ? status.audiences.slice(0, 10) : undefined },
      });
    }
    const username = status.user?.username;
    if (typeof username !== "string" || username === "") {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "the Kubernetes API did not name the token's user", { reason: "tokenreview_no_user" });
    }
    if (this.opts.cacheTtlMs > 0) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.evict(now);
      this.cache.set(key, { username, until: Math.min(now + this.opts.cacheTtlMs, expiresAt.getTime()) });
    }
    return { username, cached: false };
  }

  private evict(now: number): void {
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    // Still full of live entries: drop the oldest insertions (Map keeps insertion order).
    for (const k of this.cache.keys()) {
      if (this.cache.size < MAX_CACHE_ENTRIES) break;
      this.cache.delete(k);
    }
  }

  private async ask(token: string): Promise<TokenReviewStatus> {
    let ownToken: string;
    let ca: string;
    try {
      [ownToken, ca] = await Promise.all([readFile(this.opts.tokenFile, "utf8"), readFile(this.opts.caFile, "utf8")]);
    } catch (err) {
      throw unavailable("cannot read the CA's own service-account token or the cluster CA file", "tokenreview_credentials", err);
    }
    const body = JSON.stringify({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token, audiences: [this.opts.audience] },
    });
    const url = new URL("/apis/authentication.k8s.io/v1/tokenreviews", this.opts.apiServer);
    const tls = { ca, groups: this.opts.groups ?? DEFAULT_GROUPS };
    const { status, text } = await post(url, body, ownToken.trim(), tls, this.opts.timeoutMs ?? 5000).catch((err: unknown) => {
      throw unavailable(`cannot reach the Kubernetes API at ${url.origin}`, "tokenreview_unreachable", err);
    });
    if (status !== 201 && status !== 200) {
      // 401/403 here are about the CA's own credentials or RBAC (tokenreviews create), not the caller's token.
      throw unavailable(`the Kubernetes API answered HTTP ${status} to a TokenReview`, "tokenreview_http_error", undefined, { status, body: text.slice(0, 300) });
    }
    try {
      const review = JSON.parse(text) as { status?: TokenReviewStatus };
      return review.status ?? {};
    } catch (err) {
      throw unavailable("the Kubernetes API answered a TokenReview with something that is not JSON", "tokenreview_bad_answer", err);
    }
  }
}

function unavailable(logMessage: string, reason: string, cause?: unknown, detail: Record<string, unknown> = {}): ApiError {
  return new ApiError(ApiErrorCode.UNAVAILABLE, "the CA cannot verify Kubernetes tokens right now; try again shortly", {
    reason,
    cause,
    detail: { ...detail, problem: logMessage },
  });
}

function post(
  url: URL,
  body: string,
  bearer: string,
  tls: { ca: string; groups: readonly TlsGroup[] },
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca: tls.ca,
        // ECDHE and AEAD only: an answer in ffdhe8192 would cost the CA 100 ms or more of CPU per review.
        ciphers: AEAD_CIPHERS,
        ecdhCurve: ecdhCurveOf(tls.groups),
        timeout: timeoutMs,
        headers: {
          authorization: `Bearer ${bearer}`,
          "content-type": "application/json",
          accept: "application/json",
          "content-length": String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) res.destroy(new Error("TokenReview answer too large"));
          else chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
