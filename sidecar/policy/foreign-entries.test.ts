import { describe, expect, it } from "vitest";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { foreignEntries } from "./foreign-entries.js";

const TEXT = [
  "version: 1",
  "listeners:",
  "  http:",
  "    allow:",
  "      - spiffe://example.org/ns/web/sa/frontend",
  "      - spiffe://other.org/ns/web/sa/frontend",
  "    deny:",
  "      - spiffe://staging.example.org/ns/*",
  "  grpc:",
  "    allow: [spiffe://example.org/ns/a/**, spiffe://other.org/x]",
].join("\n");

describe("foreignEntries", () => {
  it("names every entry of another trust domain with its path and position, and nothing else", () => {
    const found = foreignEntries(TEXT, TrustDomain.parse("example.org"));
    expect(found.map((f) => [f.path, f.line, f.col])).toEqual([
      ["listeners.http.allow[1]", 6, 9],
      ["listeners.http.deny[0]", 8, 9],
      ["listeners.grpc.allow[1]", 10, 43],
    ]);
    expect(found[1]?.message).toBe(
      "spiffe://staging.example.org/ns/* is in trust domain staging.example.org, not example.org: the sidecar refuses peers of any other trust domain before the policy is asked, so this entry never matches",
    );
  });

  it("finds nothing when every entry is of the trust domain", () => {
    expect(foreignEntries("version: 1\nlisteners:\n  http:\n    allow: [spiffe://example.org/a]\n", TrustDomain.parse("example.org"))).toEqual([]);
    expect(foreignEntries("version: 1\nlisteners: {}\n", TrustDomain.parse("example.org"))).toEqual([]);
  });
});
