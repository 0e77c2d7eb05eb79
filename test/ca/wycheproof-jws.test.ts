/**
 * The Wycheproof JWS vectors (C2SP/wycheproof, Apache-2.0; copied into
 * test/conformance/, whose README names the version) through the token verifier. Their payloads are not
 * Kubernetes tokens, so the layers are tested apart:
 * - signature layer (verifyJwsSignature, what the verifier runs first): a
 *   vector verifies exactly when Wycheproof calls it valid AND its alg is
 *   RS256 or ES256; every HS*, PS*, RS384/512, ES512, `none`, JSON-serialised,
 *   malleated or wrong-key vector is refused;
 * - the whole Kubernetes attestor (JWKS mode, the group's key as the
 *   cluster's JWKS): every vector is refused, and the valid RS256/ES256 ones
 *   only by the claims layer, after their signature was accepted.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesAttestor } from "../../ca/attest/kubernetes-attestor.js";
import { JwsError, TOKEN_ALGORITHMS, verifyJwsSignature } from "../../ca/attest/jws.js";
import { loadCaConfig } from "../../ca/config.js";
import { ApiError } from "../../ca/errors.js";
import { createLogger } from "../../lib/log.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { tempDir } from "./support.js";

interface Vector {
  tcId: number;
  comment: string;
  jws: string | Record<string, unknown>;
  result: "valid" | "invalid" | "acceptable";
}
interface Group {
  comment: string;
  public?: Record<string, unknown>;
  private?: Record<string, unknown>;
  tests: Vector[];
}

const file = new URL("../conformance/json_web_signature_test.json", import.meta.url);
const suite = JSON.parse(await readFile(file, "utf8")) as { numberOfTests: number; testGroups: Group[] };
const all = suite.testGroups.flatMap((group) => group.tests.map((vector) => ({ group, vector })));
const logger = createLogger({ name: "wycheproof", format: "json", destination: new Writable({ write: (_c, _e, done) => done() }) });

/** What a verifier sees: the JWKS of the group (its public key, or for HMAC groups the secret, which must be useless). */
function keySetOf(group: Group): JSONWebKeySet {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = (group.public ?? group.private ?? {}) as Record<string, unknown>;
  return { keys: [(group.public ?? publicPart) as JSONWebKeySet["keys"][number]] };
}

function compact(jws: Vector["jws"]): string {
  return typeof jws === "string" ? jws : JSON.stringify(jws);
}

function algOf(jws: Vector["jws"]): string | undefined {
  if (typeof jws !== "string") return undefined;
  try {
    return (JSON.parse(Buffer.from(jws.split(".")[0] ?? "", "base64url").toString("utf8")) as { alg?: string }).alg;
  } catch {
    return undefined;
  }
}

/** Valid for us: Wycheproof says valid and the algorithm is one Kubernetes signs with. */
function expectedValid(vector: Vector): boolean {
  return vector.result === "valid" && TOKEN_ALGORITHMS.includes(algOf(vector.jws) ?? "");
}

describe("Wycheproof JWS vectors", () => {
  it("are all loaded (401 vectors), and some RS256/ES256 ones are valid", () => {
    expect(all).toHaveLength(suite.numberOfTests);
    expect(all.filter(({ vector }) => expectedValid(vector)).length).toBeGreaterThanOrEqual(10);
  });

  it("verify at the signature layer exactly when valid and signed with RS256 or ES256", async () => {
    const mismatches: string[] = [];
    for (const { group, vector } of all) {
      let verified = false;
      try {
        await verifyJwsSignature(compact(vector.jws), createLocalJWKSet(keySetOf(group)));
        verified = true;
      } catch (err) {
        if (!(err instanceof JwsError)) throw err;
      }
      if (verified !== expectedValid(vector)) mismatches.push(`tcId ${vector.tcId} (${group.comment}/${vector.comment}, alg ${algOf(vector.jws)}): verified=${verified}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("Wycheproof JWS vectors through the Kubernetes attestor", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir("ca-wycheproof-");
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it("are all refused with 401, the valid RS256/ES256 ones only for their claims", async () => {
    const unexpected: string[] = [];
    let passedSignature = 0;
    for (const [index, group] of suite.testGroups.entries()) {
      const jwksFile = join(dir.path, `jwks-${index}.json`);
      await writeFile(jwksFile, JSON.stringify(keySetOf(group)));
      const config = loadCaConfig(
        `trustDomain: example.org\nattestation:\n  kubernetes:\n    mode: jwks\n    jwks:\n      file: ${jwksFile}\n`,
        join(dir.path, "ca.yaml"),
        {},
      );
      const attestor = await KubernetesAttestor.create(config.attestation.kubernetes as NonNullable<typeof config.attestation.kubernetes>, {
        trustDomain: TrustDomain.parse("example.org"),
        logger,
      });
      for (const vector of group.tests) {
        let outcome: string;
        try {
          await attestor.attest(compact(vector.jws), new Date());
          outcome = "accepted";
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          outcome = `${err.status} ${err.reason ?? ""}`;
        }
        const claimsLayer = /^401 (payload_not_json|payload_not_object|wrong_issuer)$/.test(outcome);
        if (claimsLayer) passedSignature++;
        if (!outcome.startsWith("401") || claimsLayer !== expectedValid(vector)) {
          unexpected.push(`tcId ${vector.tcId} (${group.comment}/${vector.comment}): ${outcome}`);
        }
      }
    }
    expect(unexpected).toEqual([]);
    expect(passedSignature).toBe(all.filter(({ vector }) => expectedValid(vector)).length);
  });
});
