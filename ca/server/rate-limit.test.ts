import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.js";

describe("RateLimiter", () => {
  it("allows a burst, then refuses with the seconds until the next token", () => {
    const limiter = new RateLimiter(6, 3); // one token every 10 s
    const t0 = 1_000_000;
    expect([0, 1, 2].map(() => limiter.take("a", t0).allowed)).toEqual([true, true, true]);
    expect(limiter.take("a", t0)).toEqual({ allowed: false, retryAfterSeconds: 10 });
    expect(limiter.take("a", t0 + 4_000)).toEqual({ allowed: false, retryAfterSeconds: 6 });
    expect(limiter.take("a", t0 + 10_000).allowed).toBe(true);
  });

  it("keeps one bucket per identity", () => {
    const limiter = new RateLimiter(1, 1);
    expect(limiter.take("a", 0).allowed).toBe(true);
    expect(limiter.take("a", 0).allowed).toBe(false);
    expect(limiter.take("b", 0).allowed).toBe(true);
  });

  it("never refills above the burst", () => {
    const limiter = new RateLimiter(60, 2);
    limiter.take("a", 0);
    const later = 3600_000;
    expect([1, 2, 3].map(() => limiter.take("a", later).allowed)).toEqual([true, true, false]);
  });

  it("forgets refilled buckets when the table grows", () => {
    const limiter = new RateLimiter(60, 1);
    for (let i = 0; i < 10_000; i++) limiter.take(`id-${i}`, 0);
    expect(limiter.size).toBe(10_000);
    limiter.take("late", 120_000); // all earlier buckets are full again by now
    expect(limiter.size).toBe(1);
  });
});
