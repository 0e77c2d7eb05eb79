import { describe, it, expect } from "vitest";
import { SpiffeIdError, SpiffeIdErrorCode } from "./errors.js";
import { SpiffeId } from "./id.js";
import { IdPattern, IdPatternSet } from "./pattern.js";

const id = (s: string): SpiffeId => SpiffeId.parse(s);

function patternError(source: string): SpiffeIdError {
  try {
    IdPattern.parse(source);
  } catch (err) {
    if (err instanceof SpiffeIdError) return err;
    throw err;
  }
  throw new Error(`expected pattern ${source} to be rejected`);
}

describe("IdPattern.parse", () => {
  it("parses an exact ID", () => {
    const p = IdPattern.parse("spiffe://example.org/ns/web/sa/frontend");
    expect(p.isExact).toBe(true);
    expect(p.trustDomain.name).toBe("example.org");
    expect(p.segments).toEqual(["ns", "web", "sa", "frontend"]);
    expect(p.toString()).toBe("spiffe://example.org/ns/web/sa/frontend");
  });

  it("parses a one-segment wildcard", () => {
    const p = IdPattern.parse("spiffe://example.org/ns/*/sa/*");
    expect(p.isExact).toBe(false);
    expect(p.segments).toEqual(["ns", "*", "sa", "*"]);
  });

  it("parses a trailing many-segment wildcard", () => {
    const p = IdPattern.parse("spiffe://example.org/ns/batch/**");
    expect(p.isExact).toBe(false);
    expect(p.segments).toEqual(["ns", "batch", "**"]);
  });

  it('rejects "**" anywhere but the last segment', () => {
    const err = patternError("spiffe://example.org/ns/**/sa/x");
    expect(err.code).toBe(SpiffeIdErrorCode.PATTERN);
    expect(err.message).toMatch(/last path segment/);
  });

  it("rejects a wildcard that is only part of a segment", () => {
    expect(patternError("spiffe://example.org/ns/fr*").code).toBe(SpiffeIdErrorCode.PATTERN);
    expect(patternError("spiffe://example.org/ns/***").code).toBe(SpiffeIdErrorCode.PATTERN);
  });

  it("rejects a wildcard in the trust domain", () => {
    expect(patternError("spiffe://*.example.org/ns/a").code).toBe(SpiffeIdErrorCode.PATTERN);
    expect(patternError("spiffe://*").code).toBe(SpiffeIdErrorCode.PATTERN);
    expect(patternError("spiffe://**/x").code).toBe(SpiffeIdErrorCode.PATTERN);
  });

  it("rejects a bad scheme, with or without wildcards", () => {
    expect(patternError("https://example.org/ns/*").code).toBe(SpiffeIdErrorCode.SCHEME);
    expect(patternError("Spiffe://example.org/ns/*").code).toBe(SpiffeIdErrorCode.SCHEME);
    expect(patternError("https://example.org/ns/a").code).toBe(SpiffeIdErrorCode.SCHEME);
  });

  it("applies the ID rules to literal segments and the trust domain", () => {
    expect(patternError("spiffe://example.org/ns/../*").code).toBe(SpiffeIdErrorCode.PATH);
    expect(patternError("spiffe://example.org/ns//*").code).toBe(SpiffeIdErrorCode.PATH);
    expect(patternError("spiffe://example.org/ns/*/").code).toBe(SpiffeIdErrorCode.PATH);
    expect(patternError("spiffe://Example.org/ns/*").code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
  });
});

describe("IdPattern.matches", () => {
  it("matches an exact pattern only against the same ID", () => {
    const p = IdPattern.parse("spiffe://example.org/ns/web/sa/frontend");
    expect(p.matches(id("spiffe://example.org/ns/web/sa/frontend"))).toBe(true);
    expect(p.matches(id("spiffe://example.org/ns/web/sa/frontend2"))).toBe(false);
    expect(p.matches(id("spiffe://example.org/ns/web/sa/frontend/x"))).toBe(false);
  });

  it('matches "*" against exactly one segment', () => {
    const p = IdPattern.parse("spiffe://example.org/ns/ops/*");
    expect(p.matches(id("spiffe://example.org/ns/ops/a"))).toBe(true);
    expect(p.matches(id("spiffe://example.org/ns/ops"))).toBe(false);
    expect(p.matches(id("spiffe://example.org/ns/ops/a/b"))).toBe(false);
  });

  it('matches "**" against one or more segments but not its own prefix', () => {
    const p = IdPattern.parse("spiffe://example.org/ns/batch/**");
    expect(p.matches(id("spiffe://example.org/ns/batch/a"))).toBe(true);
    expect(p.matches(id("spiffe://example.org/ns/batch/a/b/c"))).toBe(true);
    expect(p.matches(id("spiffe://example.org/ns/batch"))).toBe(false);
    expect(p.matches(id("spiffe://example.org/ns/batchx/a"))).toBe(false);
  });

  it("matches the trust domain exactly", () => {
    const p = IdPattern.parse("spiffe://example.org/**");
    expect(p.matches(id("spiffe://example.org/a"))).toBe(true);
    expect(p.matches(id("spiffe://other.org/a"))).toBe(false);
    expect(p.matches(id("spiffe://sub.example.org/a"))).toBe(false);
    expect(p.matches(id("spiffe://example.org"))).toBe(false);
  });
});

describe("IdPatternSet", () => {
  function setOf(...sources: string[]): IdPatternSet<string> {
    const set = new IdPatternSet<string>();
    for (const s of sources) set.add(IdPattern.parse(s), s);
    return set;
  }

  it("prefers a literal segment over * over **", () => {
    const set = setOf(
      "spiffe://example.org/ns/**",
      "spiffe://example.org/ns/*/sa/*",
      "spiffe://example.org/ns/web/sa/*",
      "spiffe://example.org/ns/web/sa/frontend",
    );
    expect(set.size).toBe(4);
    expect(set.match(id("spiffe://example.org/ns/web/sa/frontend"))).toBe("spiffe://example.org/ns/web/sa/frontend");
    expect(set.match(id("spiffe://example.org/ns/web/sa/other"))).toBe("spiffe://example.org/ns/web/sa/*");
    expect(set.match(id("spiffe://example.org/ns/shop/sa/orders"))).toBe("spiffe://example.org/ns/*/sa/*");
    expect(set.match(id("spiffe://example.org/ns/shop/deploy/x"))).toBe("spiffe://example.org/ns/**");
  });

  it("is independent of insertion order", () => {
    const set = setOf("spiffe://example.org/ns/web/sa/*", "spiffe://example.org/ns/**", "spiffe://example.org/ns/*/sa/*");
    expect(set.match(id("spiffe://example.org/ns/web/sa/x"))).toBe("spiffe://example.org/ns/web/sa/*");
    expect(set.match(id("spiffe://example.org/ns/db/sa/x"))).toBe("spiffe://example.org/ns/*/sa/*");
  });

  it("falls back to a less specific branch when the literal branch dead-ends", () => {
    const set = setOf("spiffe://example.org/ns/web/sa/frontend", "spiffe://example.org/ns/*/sa/*");
    expect(set.match(id("spiffe://example.org/ns/web/sa/backend"))).toBe("spiffe://example.org/ns/*/sa/*");
  });

  it("never matches another trust domain", () => {
    const set = setOf("spiffe://example.org/**", "spiffe://example.org/a");
    expect(set.match(id("spiffe://other.org/a"))).toBeUndefined();
    expect(set.match(id("spiffe://other.org/a/b"))).toBeUndefined();
  });

  it("does not let ns/batch/** match ns/batch", () => {
    const set = setOf("spiffe://example.org/ns/batch/**");
    expect(set.match(id("spiffe://example.org/ns/batch"))).toBeUndefined();
    expect(set.match(id("spiffe://example.org/ns/batch/job"))).toBe("spiffe://example.org/ns/batch/**");
  });

  it("returns undefined when nothing matches (empty set included)", () => {
    expect(new IdPatternSet<string>().match(id("spiffe://example.org/a"))).toBeUndefined();
    expect(setOf("spiffe://example.org/ns/*").match(id("spiffe://example.org/ns/a/b"))).toBeUndefined();
  });

  it("keeps the first value for a duplicate pattern", () => {
    const set = new IdPatternSet<number>();
    set.add(IdPattern.parse("spiffe://example.org/a/*"), 1);
    set.add(IdPattern.parse("spiffe://example.org/a/*"), 2);
    set.add(IdPattern.parse("spiffe://example.org/b"), 3);
    set.add(IdPattern.parse("spiffe://example.org/b"), 4);
    expect(set.match(id("spiffe://example.org/a/x"))).toBe(1);
    expect(set.match(id("spiffe://example.org/b"))).toBe(3);
  });
});
