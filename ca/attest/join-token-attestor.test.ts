import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.js";
import { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { tempDir } from "../../test/ca/support.js";
import { ApiError } from "../errors.js";
import { generateJoinToken } from "../tokens/join-token.js";
import { createEmptyTokenStore, updateTokenStore } from "../tokens/store.js";
import { JoinTokenAttestor } from "./join-token-attestor.js";

const td = TrustDomain.parse("example.org");
const logLines: string[] = [];
const logger = createLogger({
  name: "test",
  format: "json",
  destination: new Writable({
    write(chunk: Buffer, _e, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
});
let dir: Awaited<ReturnType<typeof tempDir>>;
let store: string;

beforeEach(async () => {
  dir = await tempDir("ca-jt-");
  store = join(dir.path, "tokens.json");
  await createEmptyTokenStore(store);
});
afterEach(async () => {
  await dir.cleanup();
});

async function addToken(uses: number, id = "spiffe://example.org/vm/a"): Promise<string> {
  const made = generateJoinToken();
  await updateTokenStore(store, (records) => {
    records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse(id), createdAt: new Date(), expiresAt: new Date(Date.now() + 3600_000), usesLeft: uses, revoked: false });
  });
  return made.token;
}

async function reason(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError) return err.reason;
    throw err;
  }
  return undefined;
}

describe("JoinTokenAttestor", () => {
  it("with a read-only store counts uses in memory and leaves the file alone", async () => {
    const token = await addToken(2);
    const before = await readFile(store, "utf8");
    const attestor = await JoinTokenAttestor.create({ storeFile: store, trustDomain: td, logger, writable: false });
    expect(attestor.useCounting).toBe("memory");
    expect(logLines.join("")).toContain("use counts are kept in this process's memory");
    for (let i = 0; i < 2; i++) await (await attestor.attest(token, new Date())).commit?.();
    expect(await reason(attestor.attest(token, new Date()))).toBe("join_token_used");
    expect(await readFile(store, "utf8")).toBe(before);
  });

  it("with a writable store takes uses in the file", async () => {
    const token = await addToken(1);
    const attestor = await JoinTokenAttestor.create({ storeFile: store, trustDomain: td, logger });
    expect(attestor.useCounting).toBe("file");
    const attestation = await attestor.attest(token, new Date());
    expect(attestation.id.toString()).toBe("spiffe://example.org/vm/a");
    await attestation.commit?.();
    expect(JSON.parse(await readFile(store, "utf8")).tokens[0].usesLeft).toBe(0);
    // A second attestation made before the use was taken still cannot take it.
    const token2 = await addToken(1);
    const a = await attestor.attest(token2, new Date());
    const b = await attestor.attest(token2, new Date());
    await a.commit?.();
    expect(await reason(b.commit?.() ?? Promise.resolve())).toBe("join_token_used");
  });

  it("picks up new tokens when the file changes and keeps the old tokens when it becomes invalid", async () => {
    const attestor = await JoinTokenAttestor.create({ storeFile: store, trustDomain: td, logger });
    const token = await addToken(3);
    expect((await attestor.attest(token, new Date())).method).toBe("join_token");
    await writeFile(store, "{ not json");
    expect((await attestor.attest(token, new Date())).method).toBe("join_token");
    expect(logLines.join("")).toContain("keeping the previous tokens");
  });

  it("refuses a token bound to another trust domain with 403", async () => {
    const token = await addToken(1, "spiffe://other.org/vm/a");
    const attestor = await JoinTokenAttestor.create({ storeFile: store, trustDomain: td, logger });
    expect(await reason(attestor.attest(token, new Date()))).toBe("join_token_foreign_id");
  });

  it("refuses to start without a readable store, saying how to make one", async () => {
    await expect(JoinTokenAttestor.create({ storeFile: join(dir.path, "nope.json"), trustDomain: td, logger })).rejects.toThrow(/mesh-ca init/);
  });
});
