import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { createLocalJWKSet, exportJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { JwsError, refuseCriticalExtensions, verifyJwsSignature, type JwsErrorCode } from "./jws.js";

let privateKey: KeyObject;
let keys: ReturnType<typeof createLocalJWKSet>;

beforeAll(async () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  privateKey = pair.privateKey;
  keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] });
});

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A compact JWS with any header, signed ES256 by hand (jose will not sign an unknown crit). */
function jws(header: Record<string, unknown>, payload: unknown = { sub: "x" }): string {
  const input = `${b64({ alg: "ES256", kid: "k1", ...header })}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

async function refusal(token: string): Promise<{ code: JwsErrorCode; reason: string; message: string }> {
  try {
    await verifyJwsSignature(token, keys);
  } catch (err) {
    if (err instanceof JwsError) return { code: err.code, reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error("the token verified");
}

describe("verifyJwsSignature and crit", () => {
  it("verifies a token without crit", async () => {
    expect(JSON.parse(Buffer.from((await verifyJwsSignature(jws({}), keys)).payload).toString())).toEqual({ sub: "x" });
  });

  it("refuses a critical extension by naming it, not as a wrong algorithm", async () => {
    expect(await refusal(jws({ crit: ["exp-hint"], "exp-hint": 60 }))).toEqual({
      code: "JWS_CRITICAL_EXTENSION",
      reason: "unknown_critical_extension",
      message: 'token header has critical extension "exp-hint" that mesh-ca does not understand; Kubernetes service-account tokens have none (remove "crit" from the header)',
    });
    expect((await refusal(jws({ crit: ["a", "b"], a: 1, b: 2 }))).message).toMatch(/^token header has critical extensions "a", "b" that/);
    // jose understands b64; mesh-ca does not, and no Kubernetes token carries it.
    expect((await refusal(jws({ crit: ["b64"], b64: true }))).code).toBe("JWS_CRITICAL_EXTENSION");
  });

  it.each([
    ["a string", "exp-hint"],
    ["an empty list", []],
    ["a name the header lacks", ["nowhere"]],
    ["a non-string entry", [1]],
    ["crit itself", ["crit"]],
  ])("calls a crit that is %s malformed", async (_what, crit) => {
    expect(await refusal(jws({ crit, "exp-hint": 60 }))).toMatchObject({ code: "JWS_MALFORMED", message: expect.stringContaining('"crit" is not a list of the names of parameters') });
  });

  it("still refuses a wrong algorithm as one", async () => {
    const hs = `${b64({ alg: "HS256", kid: "k1" })}.${b64({})}.AAAA`;
    expect((await refusal(hs)).message).toBe("token algorithm is not allowed; tokens must be signed with RS256 or ES256");
  });

  it("leaves a header without crit, or no header, alone", () => {
    expect(() => refuseCriticalExtensions({ alg: "ES256" })).not.toThrow();
    expect(() => refuseCriticalExtensions(undefined)).not.toThrow();
  });
});
