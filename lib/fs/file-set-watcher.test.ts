import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log.js";
import { FileSetWatcher, type FileSetSnapshot, type WatchedFile } from "./file-set-watcher.js";

let dir: string;
let seen: FileSetSnapshot[];
let watcher: FileSetWatcher | undefined;
const log = createLogger({ name: "t", level: "error", format: "json", destination: new Writable({ write: (_c, _e, cb) => cb() }) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-set-"));
  seen = [];
});

afterEach(async () => {
  watcher?.stop();
  watcher = undefined;
  await rm(dir, { recursive: true, force: true });
});

function watch(files: WatchedFile[], opts: { watchDirectory?: boolean; pollIntervalMs?: number } = {}): FileSetWatcher {
  watcher = new FileSetWatcher({ files, what: "test files", log, onChange: (s) => void seen.push(s), settleMs: 20, debounceMs: 20, ...opts });
  return watcher;
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

const texts = (s: FileSetSnapshot | undefined): Record<string, string | undefined> => Object.fromEntries([...(s?.texts ?? [])].map(([p, t]) => [p.slice(dir.length + 1), t]));

describe("FileSetWatcher", () => {
  it("hands over both files of a Kubernetes-style ..data symlink swap at once, seen through the directory watch", async () => {
    const generation = async (name: string, a: string, b: string): Promise<void> => {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, "a.pem"), a);
      await writeFile(join(dir, name, "b.pem"), b);
    };
    await generation("..2026_01", "a1", "b1");
    await symlink("..2026_01", join(dir, "..data"));
    await symlink("..data/a.pem", join(dir, "a.pem"));
    await symlink("..data/b.pem", join(dir, "b.pem"));
    const w = watch(
      [
        { path: join(dir, "a.pem"), required: true },
        { path: join(dir, "b.pem"), required: true },
      ],
      { pollIntervalMs: 60_000 },
    );
    expect(texts(await w.readBaseline())).toEqual({ "a.pem": "a1", "b.pem": "b1" });
    w.start();
    await generation("..2026_02", "a2", "b2");
    await symlink("..2026_02", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await until("the swap to be handed over", () => seen.length === 1);
    expect(texts(seen[0])).toEqual({ "a.pem": "a2", "b.pem": "b2" });
  });

  it("finds changes by the periodic check alone, once per content", async () => {
    await writeFile(join(dir, "a.pem"), "a1");
    const w = watch([{ path: join(dir, "a.pem"), required: true }], { watchDirectory: false, pollIntervalMs: 20 });
    await w.readBaseline();
    w.start();
    await writeFile(join(dir, "a.pem"), "a2");
    await until("the change", () => seen.length === 1);
    await w.check();
    await w.check({ viaPoll: true });
    expect(seen).toHaveLength(1);
  });

  it("reports an optional file as missing, and hands over its arrival; a missing required file holds everything back", async () => {
    await writeFile(join(dir, "a.pem"), "a1");
    const w = watch([
      { path: join(dir, "a.pem"), required: true },
      { path: join(dir, "extra.json"), required: false },
    ]);
    expect(texts(await w.readBaseline())).toEqual({ "a.pem": "a1", "extra.json": undefined });
    await writeFile(join(dir, "extra.json"), "{}");
    await w.check();
    expect(texts(seen[0])).toEqual({ "a.pem": "a1", "extra.json": "{}" });
    await unlink(join(dir, "a.pem"));
    await w.check();
    expect(seen).toHaveLength(1);
    await writeFile(join(dir, "a.pem"), "a2");
    await w.check();
    expect(texts(seen[1])).toEqual({ "a.pem": "a2", "extra.json": "{}" });
  });

  it("throws the read error of a missing required file at the baseline", async () => {
    await expect(watch([{ path: join(dir, "nope.pem"), required: true }]).readBaseline()).rejects.toThrow(/ENOENT/);
  });
});
