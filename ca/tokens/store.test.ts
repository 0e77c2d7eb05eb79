import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { CaError } from "../errors.js";
import { generateJoinToken, isJoinTokenFormat, joinTokenHash } from "./join-token.js";
import { createEmptyTokenStore, parseTokenStore, readTokenStore, serializeTokenStore, tokenState, updateTokenStore, type JoinTokenRecord } from "./store.js";

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ca-tokens-"));
  file = join(dir, "tokens.json");
  await createEmptyTokenStore(file);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(over: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  const made = generateJoinToken();
  return {
    id: made.id,
    hash: made.hash,
    spiffeId: SpiffeId.parse("spiffe://example.org/vm/build-1"),
    createdAt: new Date("2026-01-01T00:00:00Z"),
    expiresAt: new Date("2026-01-02T00:00:00Z"),
    usesLeft: 1,
    revoked: false,
    ...over,
  };
}

describe("join tokens", () => {
  it("are meshjt_ plus 43 base64url characters (256 bits), and the store keeps only their hash", () => {
    const made = generateJoinToken(() => new Uint8Array(32).fill(0xfb));
    expect(made.token).toBe(`meshjt_${Buffer.alloc(32, 0xfb).toString("base64url")}`);
    expect(made.token).toHaveLength("meshjt_".length + 43);
    expect(isJoinTokenFormat(made.token)).toBe(true);
    expect(made.hash).toBe(joinTokenHash(made.token));
    expect(made.id).toBe(made.hash.slice(0, 12));
    expect(serializeTokenStore([{ ...record(), hash: made.hash, id: made.id }])).not.toContain(made.token);
    expect(isJoinTokenFormat("meshjt_short")).toBe(false);
    expect(generateJoinToken().token).not.toBe(generateJoinToken().token);
  });

  it("have a state: revoked wins over expired wins over used up", () => {
    const now = new Date("2026-01-01T12:00:00Z");
    expect(tokenState(record(), now)).toBe("active");
    expect(tokenState(record({ usesLeft: 0 }), now)).toBe("used");
    expect(tokenState(record({ usesLeft: 0, expiresAt: now }), now)).toBe("expired");
    expect(tokenState(record({ usesLeft: 0, expiresAt: now, revoked: true }), now)).toBe("revoked");
  });
});

describe("token store file", () => {
  it("round-trips records and is written with mode 0600", async () => {
    const r = record();
    await updateTokenStore(file, (records) => {
      records.push(r);
    });
    const [back] = await readTokenStore(file);
    expect(back).toEqual(r);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(["tokens.json"]); // no temp or lock file left behind
  });

  it("serialises concurrent updates under its lock: none is lost", async () => {
    await Promise.all(
      Array.from({ length: 12 }, () =>
        updateTokenStore(file, async (records) => {
          await new Promise((r) => setTimeout(r, 2));
          records.push(record());
        }),
      ),
    );
    expect(await readTokenStore(file)).toHaveLength(12);
  });

  it("leaves the file untouched when the change throws", async () => {
    const before = await readFile(file, "utf8");
    await expect(updateTokenStore(file, () => Promise.reject(new Error("no")))).rejects.toThrow("no");
    expect(await readFile(file, "utf8")).toBe(before);
  });

  it("names the bad entry of a damaged store", async () => {
    const good = JSON.parse(serializeTokenStore([record()])) as { tokens: Record<string, unknown>[] };
    const bad = (change: Record<string, unknown>): string => JSON.stringify({ version: 1, tokens: [{ ...good.tokens[0], ...change }] });
    expect(() => parseTokenStore("{", "t.json")).toThrow(/t.json: not JSON/);
    expect(() => parseTokenStore('{"tokens": []}', "t.json")).toThrow(/expected \{"version": 1/);
    expect(() => parseTokenStore(bad({ hash: "abc" }), "t.json")).toThrow(/tokens\[0\]: hash must be 64 hex digits/);
    expect(() => parseTokenStore(bad({ spiffeId: "https://x" }), "t.json")).toThrow(/tokens\[0\]: spiffeId/);
    expect(() => parseTokenStore(bad({ usesLeft: -1 }), "t.json")).toThrow(/usesLeft/);
    expect(() => parseTokenStore(bad({ expiresAt: "soon" }), "t.json")).toThrow(/expiresAt must be an RFC 3339 time/);
    await writeFile(file, "[]");
    await expect(readTokenStore(file)).rejects.toThrow(CaError);
    await expect(readTokenStore(join(dir, "missing.json"))).rejects.toThrow(/cannot read it \(ENOENT\); "mesh-ca init" creates an empty one/);
  });
});
