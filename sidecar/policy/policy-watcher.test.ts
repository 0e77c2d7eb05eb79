import { createHash } from "node:crypto";
import { mkdtemp, rm, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.js";
import { SidecarMetrics } from "../metrics.js";
import type { Policy } from "./policy.js";
import { PolicyWatcher } from "./policy-watcher.js";

const allowing = (id: string): string => `version: 1\nlisteners:\n  http:\n    allow: [${id}]\n`;
const A = "spiffe://example.org/ns/a/sa/a";
const B = "spiffe://example.org/ns/b/sa/b";

let dir: string;
let file: string;
let reloaded: Policy[];
let metrics: SidecarMetrics;
let logs: Record<string, unknown>[];
let watcher: PolicyWatcher;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "policy-watcher-"));
  file = join(dir, "policy.yaml");
  await writeFile(file, allowing(A));
  reloaded = [];
  logs = [];
  metrics = new SidecarMetrics(new Registry());
  const destination = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) });
  watcher = new PolicyWatcher({
    file,
    metrics,
    log: createLogger({ name: "t", level: "debug", format: "json", destination }),
    onReload: (p) => reloaded.push(p),
    watchDirectory: false,
    pollIntervalMs: 20,
  });
});

afterEach(async () => {
  watcher.stop();
  await rm(dir, { recursive: true, force: true });
});

async function reloads(result: "ok" | "error"): Promise<number> {
  return (await metrics.policyReloads.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("PolicyWatcher", () => {
  it("does not load a file caught between truncate and write", async () => {
    watcher.start();
    // Truncate, then write the new policy a little later, as a slow editor would; the poll
    // (every 20 ms) sees the empty file in between.
    await writeFile(file, "");
    await new Promise((r) => setTimeout(r, 40));
    await writeFile(file, allowing(B));
    await until("the new policy to load", () => reloaded.length === 1);
    expect(reloaded[0]?.decide("http", B).decision).toBe("allow");
    expect(await reloads("error")).toBe(0);
  });


  it("loads the initial policy without counting it as a reload", async () => {
    const policy = await watcher.loadInitial();
    expect(policy.decide("http", A).decision).toBe("allow");
    expect(await reloads("ok")).toBe(0);
  });

  it("picks up a change through the periodic check alone", async () => {
    await watcher.loadInitial();
    watcher.start();
    await writeFile(file, allowing(B));
    await until("the reload", () => reloaded.length === 1);
    expect(reloaded[0]?.decide("http", B).decision).toBe("allow");
    expect(await reloads("ok")).toBe(1);
  });

  it("does not reload when only the timestamp changed", async () => {
    await watcher.loadInitial();
    await utimes(file, new Date(), new Date(Date.now() + 5_000));
    await watcher.check({ viaPoll: true });
    expect(reloaded).toHaveLength(0);
    expect(await reloads("ok")).toBe(0);
  });

  it("counts a bad file once however often it is checked, and keeps quiet about a briefly missing file", async () => {
    await watcher.loadInitial();
    await writeFile(file, "version: 1\nlisteners:\n  http:\n    allow: [not-an-id]\n");
    await watcher.check();
    await watcher.check();
    await watcher.check({ viaPoll: true });
    expect(await reloads("error")).toBe(1);
    expect(reloaded).toHaveLength(0);
    const line = logs.find((l) => l.level === 50);
    expect(line?.errors).toEqual([expect.stringMatching(/policy\.yaml:4:13: listeners\.http\.allow\[0\]: /)]);
    await unlink(file);
    await watcher.check();
    expect(await reloads("error")).toBe(1);
    await writeFile(file, allowing(B));
    await watcher.check();
    expect(reloaded).toHaveLength(1);
  });

  it("logs a refused file's one YAML mistake once: in errors, not again in the message", async () => {
    await watcher.loadInitial();
    // One mis-indented item; the yaml package reports it three times.
    await writeFile(file, `version: 1\nlisteners:\n  http:\n    allow:\n    - ${A}\n   - ${B}\n`);
    await watcher.check();
    const line = logs.find((l) => l.level === 50);
    expect(line?.errors).toEqual([expect.stringMatching(/policy\.yaml:6:1: YAML syntax: A block sequence may not be used as an implicit map key$/)]);
    expect(line?.msg).toBe("policy file policy.yaml refused (1 error, see errors); the previous policy stays in force");
    expect(JSON.stringify(line).split("block sequence").length - 1).toBe(1);
  });

  it("knows the hash and load time of the content in force, and the refused content after it", async () => {
    const sha = (text: string): string => createHash("sha256").update(text).digest("hex");
    expect(watcher.inForce).toBeUndefined();
    const beforeLoad = Date.now();
    await watcher.loadInitial();
    expect(watcher.inForce?.sha256).toBe(sha(allowing(A)));
    expect(watcher.inForce?.loadedAt.getTime()).toBeGreaterThanOrEqual(beforeLoad);
    expect(watcher.lastRefusal).toBeUndefined();

    const bad = "version: 1\nlisteners:\n  http:\n    allow: [not-an-id]\n";
    await writeFile(file, bad);
    await watcher.check();
    expect(watcher.inForce?.sha256).toBe(sha(allowing(A)));
    expect(watcher.lastRefusal).toEqual({ sha256: sha(bad), refusedAt: expect.any(Date), errors: [expect.stringMatching(/policy\.yaml:4:13: /)] });

    await writeFile(file, allowing(B));
    await watcher.check();
    expect(watcher.inForce?.sha256).toBe(sha(allowing(B)));
    expect(watcher.lastRefusal).toBeUndefined();
  });
});
