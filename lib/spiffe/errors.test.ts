import { readFileSync } from "node:fs";
import { describe, it, expect } from "vitest";
import { BundleErrorCode, SpiffeIdErrorCode, SvidErrorCode } from "./errors.js";

const docs = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

/** The text of one `## ` section of docs/errors.md, up to the next `## `. */
function section(title: string): string {
  const start = docs.indexOf(`\n## ${title}\n`);
  if (start === -1) return "";
  const next = docs.indexOf("\n## ", start + 1);
  return docs.slice(start, next === -1 ? undefined : next);
}

const allCodes = [
  ...Object.values(SpiffeIdErrorCode),
  ...Object.values(SvidErrorCode),
  ...Object.values(BundleErrorCode),
];

describe("docs/errors.md", () => {
  it('starts with "# Error codes" and has the SPIFFE section', () => {
    expect(docs.startsWith("# Error codes\n")).toBe(true);
    expect(section("SPIFFE IDs and SVIDs")).not.toBe("");
  });

  it.each(allCodes)("documents %s in a table row of the SPIFFE section", (code) => {
    expect(section("SPIFFE IDs and SVIDs")).toMatch(new RegExp(`^\\| \`${code}\` \\| \\S`, "m"));
  });

  it("gives every code a distinct value", () => {
    expect(new Set(allCodes).size).toBe(allCodes.length);
  });
});
