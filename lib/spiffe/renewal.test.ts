import { describe, it, expect } from "vitest";
import { backoff, renewAt } from "./renewal.js";

const HOUR = 3600_000;
const MIN = 60_000;
const notBefore = new Date("2030-01-01T00:00:00Z");
const oneHour = { notBefore, notAfter: new Date("2030-01-01T01:00:00Z") };
const at = (iso: string): Date => new Date(iso);
const fixed = (v: number) => (): number => v;

describe("renewAt", () => {
  it("renews at half the lifetime when the jitter draw is centred", () => {
    expect(renewAt(oneHour, notBefore, { random: fixed(0.5) })).toEqual(at("2030-01-01T00:30:00Z"));
  });

  it("spreads renewals by ±10% of the lifetime by default", () => {
    expect(renewAt(oneHour, notBefore, { random: fixed(0) })).toEqual(at("2030-01-01T00:24:00Z"));
    expect(renewAt(oneHour, notBefore, { random: fixed(0.999999999) })).toEqual(at("2030-01-01T00:36:00Z"));
  });

  it("honours a custom fraction and jitter", () => {
    expect(renewAt(oneHour, notBefore, { fraction: 0.7, jitter: 0, random: fixed(0) })).toEqual(at("2030-01-01T00:42:00Z"));
  });

  it("is deterministic for a given random source", () => {
    const a = renewAt(oneHour, notBefore, { random: fixed(0.25) });
    const b = renewAt(oneHour, notBefore, { random: fixed(0.25) });
    expect(a).toEqual(b);
    expect(a).toEqual(at("2030-01-01T00:27:00Z"));
  });

  it("stays within [now+min, now+max]", () => {
    const now = at("2030-01-01T00:10:00Z");
    expect(renewAt(oneHour, now, { random: fixed(0.5), min: 25 * MIN })).toEqual(at("2030-01-01T00:35:00Z"));
    expect(renewAt(oneHour, now, { random: fixed(0.5), max: 5 * MIN })).toEqual(at("2030-01-01T00:15:00Z"));
  });

  it("caps a long-lived certificate's renewal with max", () => {
    const day = { notBefore, notAfter: new Date(notBefore.getTime() + 24 * HOUR) };
    expect(renewAt(day, notBefore, { random: fixed(0.5), max: HOUR })).toEqual(at("2030-01-01T01:00:00Z"));
  });

  it("never renews later than notAfter minus the margin, even when min asks for it", () => {
    const now = at("2030-01-01T00:50:00Z");
    // Default margin for a 1 h certificate: min(5 min, 6 min) = 5 min.
    expect(renewAt(oneHour, now, { random: fixed(0.5), min: 30 * MIN })).toEqual(at("2030-01-01T00:55:00Z"));
    expect(renewAt(oneHour, now, { random: fixed(0.5), min: 30 * MIN, margin: MIN })).toEqual(at("2030-01-01T00:59:00Z"));
  });

  it("uses a tenth of the lifetime as margin for short certificates", () => {
    const tenMinutes = { notBefore, notAfter: at("2030-01-01T00:10:00Z") };
    expect(renewAt(tenMinutes, notBefore, { fraction: 1, jitter: 0, random: fixed(0.5) })).toEqual(at("2030-01-01T00:09:00Z"));
  });

  it("renews at once when the renewal time has passed or the certificate expired", () => {
    const late = at("2030-01-01T00:58:00Z");
    expect(renewAt(oneHour, late, { random: fixed(0.5) })).toEqual(late);
    const after = at("2030-01-02T00:00:00Z");
    expect(renewAt(oneHour, after, { random: fixed(0.5) })).toEqual(after);
  });

  it("rejects a fraction or jitter out of range", () => {
    expect(() => renewAt(oneHour, notBefore, { fraction: 0 })).toThrow(RangeError);
    expect(() => renewAt(oneHour, notBefore, { fraction: 1.5 })).toThrow(RangeError);
    expect(() => renewAt(oneHour, notBefore, { jitter: -0.1 })).toThrow(RangeError);
    expect(() => renewAt(oneHour, notBefore, { jitter: Number.NaN })).toThrow(RangeError);
  });
});

describe("backoff", () => {
  it("doubles the ceiling per attempt from the base", () => {
    const top = fixed(0.999999);
    expect(backoff(0, { base: 1000, cap: 60_000, random: top })).toBe(999);
    expect(backoff(1, { base: 1000, cap: 60_000, random: top })).toBe(1999);
    expect(backoff(3, { base: 1000, cap: 60_000, random: top })).toBe(7999);
  });

  it("never exceeds the cap, however many attempts", () => {
    expect(backoff(10, { base: 1000, cap: 60_000, random: fixed(0.999999) })).toBe(59_999);
    expect(backoff(5000, { base: 1000, cap: 60_000, random: fixed(0.5) })).toBe(30_000);
  });

  it("draws uniformly from zero (full jitter)", () => {
    expect(backoff(4, { base: 1000, cap: 60_000, random: fixed(0) })).toBe(0);
    expect(backoff(4, { base: 1000, cap: 60_000, random: fixed(0.25) })).toBe(4000);
  });

  it("defaults to a 1 s base and a 60 s cap", () => {
    expect(backoff(0, { random: fixed(0.5) })).toBe(500);
    expect(backoff(20, { random: fixed(0.5) })).toBe(30_000);
  });

  it("rejects a negative or fractional attempt", () => {
    expect(() => backoff(-1)).toThrow(RangeError);
    expect(() => backoff(1.5)).toThrow(RangeError);
  });
});
