/**
 * `mesh-ca rotate` as users run it (`node dist/ca/cli.js rotate ...`): the
 * exit codes (0, 1 with the error code, 2 for usage and config), timings
 * taken from DIR/ca.yaml or --config, and --force's warning on stderr.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../helpers/processes.js";
import { tempDir } from "./support.js";

const CLI = join(resolve(fileURLToPath(new URL(".", import.meta.url)), "..", ".."), "dist", "ca", "cli.js");
let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: string;

async function meshCa(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await run({ command: process.execPath, args: [CLI, ...args] });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

beforeEach(async () => {
  dir = await tempDir("rotate-cli-");
  ca = join(dir.path, "ca");
  expect((await meshCa("init", "--trust-domain", "example.org", "--dir", ca)).code).toBe(0);
});

afterEach(async () => {
  await dir.cleanup();
});

describe("mesh-ca rotate", () => {
  it("takes its timings from DIR/ca.yaml: activate is refused with exit 1 until 2 x the default 5m hint", async () => {
    const prepared = await meshCa("rotate", "prepare", "--dir", ca);
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(prepared.stdout).toMatch(/prepared a new root: .*next\.crt .*now 2 roots, sequence 2/);
    expect(prepared.stdout).toMatch(/safe from \S+ \(in 10m: twice the bundle refresh hint/);
    const early = await meshCa("rotate", "activate", "--dir", ca);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^mesh-ca: activate is not safe before \S+ \(in (9m\d+s|10m)\): .*\[CA_ROTATION_TOO_EARLY\]$/);
    const status = await meshCa("rotate", "status", "--dir", ca);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/current +[0-9A-F:]{95} /);
    expect(status.stdout).toMatch(/next +[0-9A-F:]{95} /);
  });

  it("reads --config instead, and --force warns on stderr what it risks", async () => {
    const config = join(dir.path, "timings.yaml");
    await writeFile(config, "trustDomain: example.org\nsvid:\n  maxTtl: 10s\n  defaultTtl: 10s\nbundle:\n  refreshHint: 1s\n");
    expect((await meshCa("rotate", "prepare", "--dir", ca, "--config", config)).code).toBe(0);
    const forced = await meshCa("rotate", "activate", "--dir", ca, "--config", config, "--force");
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/^mesh-ca: warning: --force: running activate before it is safe/);
    expect(forced.stdout).toMatch(/^activated: /);
    const retire = await meshCa("rotate", "retire", "--dir", ca, "--config", config);
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain("[CA_ROTATION_TOO_EARLY]");
    expect(JSON.parse(await readFile(join(ca, "rotation.json"), "utf8"))).toMatchObject({ state: "activated" });
  });

  it("exits 2 for usage and config errors, and asks for --config when DIR has no ca.yaml", async () => {
    expect((await meshCa("rotate")).code).toBe(2);
    expect((await meshCa("rotate", "spin", "--dir", ca)).stderr).toContain('unknown step "spin"');
    expect((await meshCa("rotate", "prepare")).code).toBe(2);
    const both = await meshCa("rotate", "prepare", "--dir", ca, "--cert", "x.crt");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--cert and --key go together");
    const bare = join(dir.path, "bare");
    const noConfig = await meshCa("rotate", "status", "--dir", bare);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain("pass --config FILE");
    const help = await meshCa("rotate", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("prepare    make the next root");
  });
});
