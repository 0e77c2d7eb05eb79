/**
 * Summary statistics for benchmark samples. Rounds are few (3-5), so a round
 * figure is reported as median with min–max rather than mean ± deviation.
 */

/** Median, min and max of a set of round results. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) by linear interpolation between closest
 * ranks (the "R-7" definition used by numpy and spreadsheets); NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (p < 0 || p > 100) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const s = sorted(values);
  if (s.length === 0) return Number.NaN;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

/** The median (50th percentile). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median, min and max; non-finite values (a failed round) are left out. */
export function spread(values: readonly number[]): Spread {
  const s = sorted(values);
  if (s.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(s), min: s[0] as number, max: s[s.length - 1] as number, n: s.length };
}

/** a / b, or NaN when either is missing or b is zero. */
export function ratio(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}
