import { readFileSync } from "node:fs";
import { describe, it, expect } from "vitest";
import { SpiffeIdError, SpiffeIdErrorCode } from "./errors.js";
import { SpiffeId, TrustDomain } from "./id.js";

interface ValidVector {
  id: string;
  trustDomain: string;
  path: string;
}
interface InvalidVector {
  id: string;
  error: string;
}
interface Vectors {
  valid: ValidVector[];
  invalid: InvalidVector[];
}

// go-spiffe's vectors and the SPIFFE ID spec's, copied into test/conformance/ (its README names the source).
const vectors = JSON.parse(
  readFileSync(new URL("../../test/conformance/spiffe-id-vectors.json", import.meta.url), "utf8"),
) as Vectors;

function parseError(s: string): SpiffeIdError {
  try {
    SpiffeId.parse(s);
  } catch (err) {
    if (err instanceof SpiffeIdError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(s)} to be rejected`);
}

describe("SpiffeId conformance vectors", () => {
  it("has the full vector set (113 valid, 448 invalid)", () => {
    expect(vectors.valid).toHaveLength(113);
    expect(vectors.invalid).toHaveLength(448);
  });

  it("parses every valid vector to its expected trust domain and path", () => {
    const wrong: string[] = [];
    for (const v of vectors.valid) {
      try {
        const id = SpiffeId.parse(v.id);
        if (id.trustDomain.name !== v.trustDomain || id.path !== v.path || id.toString() !== v.id) {
          wrong.push(`${JSON.stringify(v.id)} parsed as ${id.trustDomain.name} ${id.path}`);
        }
      } catch (err) {
        wrong.push(`${JSON.stringify(v.id)} rejected: ${(err as Error).message}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("rejects every invalid vector with a SpiffeIdError", () => {
    const accepted: string[] = [];
    for (const v of vectors.invalid) {
      try {
        SpiffeId.parse(v.id);
        accepted.push(JSON.stringify(v.id));
      } catch (err) {
        if (!(err instanceof SpiffeIdError)) accepted.push(`${JSON.stringify(v.id)} threw ${String(err)}`);
      }
    }
    expect(accepted).toEqual([]);
  });
});

describe("SpiffeId.parse", () => {
  it("names the broken rule in the error code", () => {
    expect(parseError("").code).toBe(SpiffeIdErrorCode.EMPTY);
    expect(parseError("Spiffe://example.org/a").code).toBe(SpiffeIdErrorCode.SCHEME);
    expect(parseError("https://example.org/a").code).toBe(SpiffeIdErrorCode.SCHEME);
    expect(parseError("spiffe://Example.org/a").code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
    expect(parseError("spiffe://example.org:8443/a").code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
    expect(parseError("spiffe://user@example.org/a").code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
    expect(parseError("spiffe:///a").code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
    expect(parseError("spiffe://example.org/a/../b").code).toBe(SpiffeIdErrorCode.PATH);
    expect(parseError("spiffe://example.org/a/").code).toBe(SpiffeIdErrorCode.PATH);
    expect(parseError("spiffe://example.org/a%20b").code).toBe(SpiffeIdErrorCode.PATH);
    expect(parseError("spiffe://example.org/a?x=1").code).toBe(SpiffeIdErrorCode.PATH);
  });

  it("states the rule in the message", () => {
    expect(parseError("spiffe://example.org/a/..").message).toBe('path segment "..": dot segments are not allowed');
    expect(parseError("spiffe://example.org:1/a").message).toBe("trust domain cannot contain a port");
  });

  it("accepts an ID of exactly 2048 bytes and rejects 2049", () => {
    const prefix = "spiffe://example.org/";
    const exact = prefix + "a".repeat(2048 - prefix.length);
    expect(SpiffeId.parse(exact).toString()).toBe(exact);
    expect(parseError(exact + "a").code).toBe(SpiffeIdErrorCode.TOO_LONG);
  });

  it("rejects a trust domain longer than 255 bytes", () => {
    expect(parseError(`spiffe://${"a".repeat(256)}/x`).code).toBe(SpiffeIdErrorCode.TRUST_DOMAIN);
    expect(SpiffeId.parse(`spiffe://${"a".repeat(255)}/x`).trustDomain.name).toHaveLength(255);
  });

  it("returns undefined from tryParse instead of throwing", () => {
    expect(SpiffeId.tryParse("spiffe://example.org/a")?.path).toBe("/a");
    expect(SpiffeId.tryParse("nope")).toBeUndefined();
  });

  it("splits the path into segments", () => {
    expect(SpiffeId.parse("spiffe://example.org/ns/a/sa/b").segments).toEqual(["ns", "a", "sa", "b"]);
    expect(SpiffeId.parse("spiffe://example.org").segments).toEqual([]);
  });
});

describe("TrustDomain", () => {
  it("parses a bare lowercase name", () => {
    const td = TrustDomain.parse("example.org");
    expect(td.name).toBe("example.org");
    expect(td.toString()).toBe("example.org");
  });

  it("rejects names that are not a bare trust domain", () => {
    for (const bad of ["", "Example.org", "example.org:80", "spiffe://example.org", "example.org/path", "a@b"]) {
      expect(() => TrustDomain.parse(bad), bad).toThrow(SpiffeIdError);
    }
  });

  it("has its own ID with no path", () => {
    const td = TrustDomain.parse("example.org");
    expect(td.id.toString()).toBe("spiffe://example.org");
    expect(td.id.isRoot).toBe(true);
  });

  it("compares by name", () => {
    expect(TrustDomain.parse("example.org").equals(TrustDomain.parse("example.org"))).toBe(true);
    expect(TrustDomain.parse("example.org").equals(TrustDomain.parse("other.org"))).toBe(false);
  });

  it("validates segments when building an ID", () => {
    const td = TrustDomain.parse("example.org");
    expect(td.idFromSegments("a", "b").toString()).toBe("spiffe://example.org/a/b");
    expect(() => td.idFromSegments("a", "..")).toThrow(SpiffeIdError);
    expect(() => td.idFromSegments("")).toThrow(SpiffeIdError);
  });
});

describe("SpiffeId.forServiceAccount", () => {
  const td = TrustDomain.parse("example.org");

  it("builds the Kubernetes workload ID", () => {
    const id = SpiffeId.forServiceAccount(td, "shop", "orders");
    expect(id.toString()).toBe("spiffe://example.org/ns/shop/sa/orders");
    expect(id.memberOf(td)).toBe(true);
    expect(id.isRoot).toBe(false);
  });

  it("rejects a namespace or service account that is not a valid segment", () => {
    expect(() => SpiffeId.forServiceAccount(td, "a/b", "x")).toThrow(SpiffeIdError);
    expect(() => SpiffeId.forServiceAccount(td, "shop", "..")).toThrow(SpiffeIdError);
    expect(() => SpiffeId.forServiceAccount(td, "", "x")).toThrow(SpiffeIdError);
  });
});

describe("SpiffeId.equals and isRoot", () => {
  it("is equal only with the same trust domain and path", () => {
    const a = SpiffeId.parse("spiffe://example.org/ns/a");
    expect(a.equals(SpiffeId.parse("spiffe://example.org/ns/a"))).toBe(true);
    expect(a.equals(SpiffeId.parse("spiffe://example.org/ns/b"))).toBe(false);
    expect(a.equals(SpiffeId.parse("spiffe://other.org/ns/a"))).toBe(false);
    expect(a.equals(SpiffeId.parse("spiffe://example.org/ns"))).toBe(false);
  });

  it("is root only without a path", () => {
    expect(SpiffeId.parse("spiffe://example.org").isRoot).toBe(true);
    expect(SpiffeId.parse("spiffe://example.org/x").isRoot).toBe(false);
  });

  it("serialises to its string form in JSON", () => {
    expect(JSON.stringify({ id: SpiffeId.parse("spiffe://example.org/x") })).toBe('{"id":"spiffe://example.org/x"}');
  });
});

/** Whether `segment` is accepted as one path segment (e.g. a Kubernetes namespace) of an ID built from segments. */
function isValidPathSegment(segment: string): boolean {
  try {
    TrustDomain.parse("example.org").idFromSegments(segment);
    return true;
  } catch (err) {
    if (err instanceof SpiffeIdError) return false;
    throw err;
  }
}

describe("one path segment (TrustDomain.idFromSegments)", () => {
  it("accepts one segment and rejects slashes, dots and empty", () => {
    expect(isValidPathSegment("shop-1_a.b")).toBe(true);
    expect(isValidPathSegment("a/b")).toBe(false);
    expect(isValidPathSegment("..")).toBe(false);
    expect(isValidPathSegment("")).toBe(false);
  });
});
