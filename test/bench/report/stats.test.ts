import { describe, expect, it } from "vitest";
import { median, percentile, ratio, spread } from "../../../bench/report/stats.js";

describe("bench statistics", () => {
  it("takes the median of an odd and an even number of values", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("interpolates percentiles between closest ranks", () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    expect(percentile(values, 0)).toBe(0);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([10, 20], 75)).toBe(17.5);
  });

  it("answers NaN for no values and refuses a percentile outside 0..100", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("summarizes rounds as median, min and max, leaving failed rounds out", () => {
    expect(spread([3, Number.NaN, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spread([Number.NaN])).toMatchObject({ n: 0 });
  });

  it("divides only finite values by a non-zero reference", () => {
    expect(ratio(3, 4)).toBe(0.75);
    expect(ratio(3, 0)).toBeNaN();
    expect(ratio(Number.NaN, 2)).toBeNaN();
  });
});
