/**
 * Per-identity token buckets for `POST /v1/svid` (`limits.ratePerIdentity`
 * per minute sustained, `limits.rateBurst` at once). A healthy sidecar asks
 * about twice an hour, so the limit only bites a crash-looping pod or a
 * stolen credential, and it protects the signing key's CPU from one caller.
 * Memory stays bounded: a bucket that has refilled completely carries no
 * information and is dropped when the table grows.
 */

/** The verdict for one request. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const SWEEP_THRESHOLD = 10_000;

/** Token buckets keyed by identity (a SPIFFE ID string). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;

  constructor(
    /** Sustained requests per minute. */
    readonly perMinute: number,
    /** Bucket size. */
    readonly burst: number,
  ) {
    this.refillPerMs = perMinute / 60_000;
  }

  /** Takes one token for `key` at time `nowMs`, or says how long until one is available. */
  take(key: string, nowMs: number): RateDecision {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= SWEEP_THRESHOLD) this.sweep(nowMs);
      bucket = { tokens: this.burst, updatedAt: nowMs };
      this.buckets.set(key, bucket);
    } else {
      const elapsed = Math.max(0, nowMs - bucket.updatedAt);
      bucket.tokens = Math.min(this.burst, bucket.tokens + elapsed * this.refillPerMs);
      bucket.updatedAt = nowMs;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000)) };
  }

  /** Number of identities tracked (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(nowMs: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (nowMs - b.updatedAt) * this.refillPerMs >= this.burst) this.buckets.delete(key);
    }
  }
}
