/**
 * Join tokens end to end: `mesh-ca token create|list|revoke` (run in
 * process) against the store a running server reads, so each change takes
 * effect on the next request; and the refusals: expired, revoked, used up,
 * unknown, malformed.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../ca/commands/main.js";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { createEmptyTokenStore, readTokenStore, updateTokenStore } from "../../ca/tokens/store.js";
import { systemClock } from "../../lib/clock.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { configFor, expectIssued, expectRefusal, initCaDir, makeCsr, metricValue, requestSvid, startTestServer, tempDir, type TestCaServer } from "./support.js";

const BUILD = "spiffe://example.org/vm/build-1";
let dir: Awaited<ReturnType<typeof tempDir>>;
let store: string;
let ca: TestCaServer;

/** Runs a mesh-ca command line in process; returns exit code and output. */
async function meshCa(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on("data", (c: Buffer) => out.push(c.toString()));
  stderr.on("data", (c: Buffer) => err.push(c.toString()));
  const code = await main(argv, { stdout, stderr, env: {}, clock: systemClock });
  return { code, stdout: out.join(""), stderr: err.join("") };
}

async function createToken(...extra: string[]): Promise<string> {
  const result = await meshCa("token", "create", "--store", store, "--spiffe-id", BUILD, ...extra);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

beforeAll(async () => {
  dir = await tempDir("ca-join-");
  await initCaDir(dir.path);
  store = join(dir.path, "tokens.json");
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\nlimits: {ratePerIdentity: 1000, rateBurst: 1000}\n"));
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

describe("join tokens", () => {
  it("are printed once by token create, and the store and list keep only the id", async () => {
    const token = await createToken("--ttl", "1h", "--uses", "1");
    expect(token).toMatch(/^meshjt_[A-Za-z0-9_-]{43}$/);
    const id = token ? (await readTokenStore(store)).at(-1)?.id : undefined;
    const list = await meshCa("token", "list", "--store", store);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain(BUILD);
    expect(list.stdout).not.toContain(token);
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(store, "utf8")).not.toContain(token);
  });

  it("obtain one SVID for the bound ID, then are used up (401)", async () => {
    const token = await createToken();
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), BUILD, ca.bundlePem);
    const [entry] = JSON.parse((await meshCa("token", "list", "--store", store, "--json")).stdout).filter(
      (r: { usesLeft: number; state: string }) => r.state === "used",
    ) as { usesLeft: number }[];
    expect(entry?.usesLeft).toBe(0);
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 401, "UNAUTHENTICATED", /no uses left/);
    expect(ca.logs.events("svid_issued").at(-1)).toMatchObject({ method: "join_token", spiffeId: BUILD });
  });

  it("never give out more SVIDs than their uses, even to concurrent requests", async () => {
    const token = await createToken("--uses", "2");
    const answers = await Promise.all(Array.from({ length: 5 }, async () => requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
    for (const refused of answers.filter((a) => a.status !== 200)) expectRefusal(refused, 401, "UNAUTHENTICATED", /no uses left/);
  });

  it("stop working on the next request after token revoke", async () => {
    const token = await createToken("--uses", "5");
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), BUILD, ca.bundlePem);
    const id = (await readTokenStore(store)).at(-1)?.id as string;
    const revoke = await meshCa("token", "revoke", "--store", store, "--id", id);
    expect(revoke).toMatchObject({ code: 0, stdout: `revoked join token ${id}\n` });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), 401, "UNAUTHENTICATED", /revoked/);
    expect(ca.logs.events("svid_refused").at(-1)).toMatchObject({ reason: "join_token_revoked", joinTokenId: id });
  });

  it("are refused once expired", async () => {
    const made = generateJoinToken();
    await updateTokenStore(store, (records) => {
      records.push({
        id: made.id,
        hash: made.hash,
        spiffeId: SpiffeId.parse(BUILD),
        createdAt: new Date(Date.now() - 2 * 3600_000),
        expiresAt: new Date(Date.now() - 3600_000),
        usesLeft: 1,
        revoked: false,
      });
    });
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: made.token }), 401, "UNAUTHENTICATED", /join token expired at/);
  });

  it("are refused when unknown or malformed", async () => {
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: generateJoinToken().token }), 401, "UNAUTHENTICATED", /not known/);
    expectRefusal(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: "meshjt_short" }), 401, "UNAUTHENTICATED", /malformed/);
  });

  it("cannot be used for another ID: a CSR naming a foreign URI SAN gets 403", async () => {
    const token = await createToken();
    const { csrPem } = await makeCsr({ uris: ["spiffe://example.org/ns/kube-system/sa/admin"] });
    expectRefusal(await requestSvid(ca.server, csrPem, { bearer: token }), 403, "FORBIDDEN", /URI SAN other than spiffe:\/\/example.org\/vm\/build-1/);
    // Refused before the use was taken.
    await expectIssued(await requestSvid(ca.server, (await makeCsr()).csrPem, { bearer: token }), BUILD, ca.bundlePem);
  });

  it("are counted in mesh_ca_svid_requests_total by result", async () => {
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="join_token",result="issued"}')).toBe(5);
    expect(await metricValue(ca.server, 'mesh_ca_svid_requests_total{method="join_token",result="forbidden"}')).toBe(1);
  });

  it("token revoke of an unknown id fails with exit 1 and the code", async () => {
    const result = await meshCa("token", "revoke", "--store", store, "--id", "000000000000");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("CA_TOKEN_NOT_FOUND");
  });

  it("token create refuses an ID outside the CA's trust domain (from ca.yaml beside the store), naming both and what to do", async () => {
    const before = (await readTokenStore(store)).length;
    const result = await meshCa("token", "create", "--store", store, "--spiffe-id", "spiffe://other.org/vm/build-1");
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(
      `--spiffe-id: spiffe://other.org/vm/build-1 is not in the trust domain example.org of the CA this store belongs to (${join(dir.path, "ca.yaml")}), which would refuse the token when it is used: use an ID of the form spiffe://example.org/...`,
    );
    expect(await readTokenStore(store)).toHaveLength(before);
    // The happy path from the same store: an ID of the trust domain.
    expect(await createToken()).toMatch(/^meshjt_/);
  });

  describe("the trust domain of a store without init's ca.yaml beside it", () => {
    let elsewhere: Awaited<ReturnType<typeof tempDir>>;
    let lone: string;
    beforeAll(async () => {
      elsewhere = await tempDir("ca-join-lone-");
      lone = join(elsewhere.path, "tokens.json");
      await createEmptyTokenStore(lone);
    });
    afterAll(async () => {
      await elsewhere?.cleanup();
    });
    const create = (...flags: string[]) => meshCa("token", "create", "--store", lone, "--spiffe-id", BUILD, ...flags);

    it("cannot be told without --trust-domain or --config: exit 2, saying which to pass", async () => {
      const result = await create();
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--trust-domain: cannot tell which trust domain the CA of ${lone} serves (no ca.yaml beside it, as mesh-ca init writes): pass --trust-domain TD, or --config FILE`);
      expect(await readTokenStore(lone)).toEqual([]);
    });

    it("comes from --trust-domain or --config, and an ID outside it is refused", async () => {
      expect((await create("--trust-domain", "example.org")).code).toBe(0);
      expect((await create("--config", join(dir.path, "ca.yaml"))).code).toBe(0);
      const other = await create("--trust-domain", "other.org");
      expect(other.code).toBe(2);
      expect(other.stderr).toContain(`--spiffe-id: ${BUILD} is not in the trust domain other.org of the CA this store belongs to (--trust-domain)`);
      expect(await readTokenStore(lone)).toHaveLength(2);
    });

    it("refuses --trust-domain and --config that disagree, and a malformed --trust-domain", async () => {
      const disagree = await create("--trust-domain", "other.org", "--config", join(dir.path, "ca.yaml"));
      expect(disagree.code).toBe(2);
      expect(disagree.stderr).toContain(`--config: --trust-domain other.org disagrees with trustDomain example.org of ${join(dir.path, "ca.yaml")}`);
      const bad = await create("--trust-domain", "Example.ORG");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--trust-domain: "Example.ORG" is not a trust domain');
    });

    it("is not taken from a ca.yaml beside it that serves another store, and a bad trustDomain there is reported with its line", async () => {
      await writeFile(join(elsewhere.path, "ca.yaml"), "trustDomain: example.org\nattestation:\n  joinTokens:\n    storeFile: other-tokens.json\n");
      const other = await create();
      expect(other.code).toBe(2);
      expect(other.stderr).toContain(`ca.yaml beside it uses ${join(elsewhere.path, "other-tokens.json")}, not this store`);
      expect((await create("--trust-domain", "example.org")).code).toBe(0);

      await writeFile(join(elsewhere.path, "ca.yaml"), "# a CA config\ntrustDomain: Example.org\nattestation:\n  joinTokens:\n    storeFile: tokens.json\n");
      const invalid = await create();
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toContain(`${join(elsewhere.path, "ca.yaml")}:2:14: trustDomain: "Example.org" is not a trust domain`);
      await writeFile(join(elsewhere.path, "ca.yaml"), "trustDomain: example.org\nlisten: 127.0.0.1:8443\nattestation:\n  joinTokens:\n    storeFile: tokens.json\n");
      expect((await create()).code).toBe(0);
    });
  });

  it("token create reports every bad flag at once with exit 2", async () => {
    const result = await meshCa("token", "create", "--store", store, "--spiffe-id", "spiffe://example.org", "--ttl", "forever", "--uses", "0");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--spiffe-id: a workload ID needs a path");
    expect(result.stderr).toContain("--ttl: expected a duration");
    expect(result.stderr).toContain("--uses: expected a whole number");
  });
});
