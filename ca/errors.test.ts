import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { codedErrorTables, documentedCodes } from "../test/helpers/coded-errors.js";
import { API_ERROR_STATUS, ApiError, ApiErrorCode, CaErrorCode } from "./errors.js";

const docs = await readFile(new URL("../docs/errors.md", import.meta.url), "utf8");
const section = docs.slice(docs.indexOf("## mesh-ca API error codes"));

describe("mesh-ca error codes", () => {
  it("are all documented in docs/errors.md with their HTTP status", () => {
    expect(docs).toContain("## mesh-ca API error codes");
    for (const code of Object.values(ApiErrorCode)) {
      expect(section, `${code} is not documented`).toContain(`| \`${code}\` | ${API_ERROR_STATUS[code]} |`);
    }
    for (const code of Object.values(CaErrorCode)) {
      expect(section, `${code} is not documented`).toContain(`| \`${code}\` |`);
    }
  });

  it("include every code of every CodedError subclass in ca/, each in a table row of docs/errors.md", () => {
    const tables = codedErrorTables("ca");
    expect([...tables.keys()]).toEqual(
      expect.arrayContaining(["ApiError", "AuthorityError", "CaError", "CsrError", "JwksUnavailableError", "JwsError", "UnsupportedKeyError"]),
    );
    const documented = documentedCodes();
    for (const [name, codes] of tables) {
      expect(codes.length, `${name} has no code table`).toBeGreaterThan(0);
      for (const code of codes) expect(documented.has(code), `${name} code ${code} is not documented`).toBe(true);
    }
  });

  it("answer in the API's error shape, keeping the cause out of it", () => {
    const err = new ApiError(ApiErrorCode.UNAUTHENTICATED, "token audience is not mesh-ca", { cause: new Error("secret detail"), reason: "wrong_audience" });
    expect(err.status).toBe(401);
    expect(JSON.stringify(err)).toBe('{"error":{"code":"UNAUTHENTICATED","message":"token audience is not mesh-ca"}}');
  });
});
