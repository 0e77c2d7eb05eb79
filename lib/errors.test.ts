import { describe, expect, it } from "vitest";
import { codedErrorTables, documentedCodes } from "../test/helpers/coded-errors.js";

describe("the CodedError subclasses of lib/", () => {
  const tables = codedErrorTables("lib");
  const documented = documentedCodes();

  it("are found with their code tables", () => {
    expect([...tables.keys()].sort()).toEqual(
      expect.arrayContaining(["BundleError", "ConfigError", "DerError", "SpiffeIdError", "SvidError", "UsageError", "ValueError"]),
    );
    for (const [name, codes] of tables) expect(codes.length, `${name} has no code table`).toBeGreaterThan(0);
  });

  it("have every code in a table row of docs/errors.md", () => {
    for (const [name, codes] of tables) for (const code of codes) expect(documented.has(code), `${name} code ${code} is not documented`).toBe(true);
  });
});
