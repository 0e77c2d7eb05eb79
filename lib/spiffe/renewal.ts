/**
 * When to renew an SVID and how long to wait between failed attempts: pure
 * functions of (certificate, now, random), so they are tested with fixed
 * dates (after linkerd's certify.rs and SPIRE's rotationutil). Jitter spreads
 * the renewals of pods that started together so the CA sees no thundering herd.
 */

/** Options of renewAt; durations in milliseconds. */
export interface RenewalOptions {
  /** Share of the lifetime after notBefore at which renewal starts; default 0.5. */
  fraction?: number;
  /** ± share of the lifetime added at random; default 0.1. */
  jitter?: number;
  /** Renew no sooner than now + min. */
  min?: number;
  /** Renew no later than now + max. */
  max?: number;
  /** Renew at least this long before notAfter; default min(5 min, 10% of lifetime). */
  margin?: number;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
}

/** Options of backoff; durations in milliseconds. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry; default 1 s. */
  base?: number;
  /** Largest delay; default 60 s. */
  cap?: number;
  random?: () => number;
}

const DEFAULT_FRACTION = 0.5;
const DEFAULT_JITTER = 0.1;
const MAX_DEFAULT_MARGIN_MS = 5 * 60_000;
const DEFAULT_BACKOFF_BASE_MS = 1_000;
const DEFAULT_BACKOFF_CAP_MS = 60_000;

/**
 * The time to start renewing `cert`: notBefore + fraction·lifetime ± jitter,
 * clamped to [now+min, now+max], never later than notAfter − margin and never
 * before now (an overdue certificate is renewed at once).
 */
export function renewAt(cert: { notBefore: Date; notAfter: Date }, now: Date, opts: RenewalOptions = {}): Date {
  const fraction = opts.fraction ?? DEFAULT_FRACTION;
  const jitter = opts.jitter ?? DEFAULT_JITTER;
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`renewal fraction must be in (0, 1], got ${fraction}`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`renewal jitter must be in [0, 1), got ${jitter}`);
  const notBefore = cert.notBefore.getTime();
  const notAfter = cert.notAfter.getTime();
  const lifetime = Math.max(0, notAfter - notBefore);
  const random = opts.random ?? Math.random;
  let t = notBefore + fraction * lifetime + (random() * 2 - 1) * jitter * lifetime;
  if (opts.min !== undefined) t = Math.max(t, now.getTime() + opts.min);
  if (opts.max !== undefined) t = Math.min(t, now.getTime() + opts.max);
  const margin = opts.margin ?? Math.min(MAX_DEFAULT_MARGIN_MS, lifetime / 10);
  t = Math.min(t, notAfter - margin);
  return new Date(Math.round(Math.max(t, now.getTime())));
}

/** Delay before retry number `attempt` (0 = first retry): full jitter, uniform in [0, min(cap, base·2^attempt)). */
export function backoff(attempt: number, opts: BackoffOptions = {}): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`backoff attempt must be an integer >= 0, got ${attempt}`);
  const base = opts.base ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = opts.cap ?? DEFAULT_BACKOFF_CAP_MS;
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}
