/**
 * `mesh-sidecar check-policy` (the built CLI) on a policy with an audit-mode
 * listener: a would-be denial prints `deny <entry> (audit: let through)`, an
 * allow prints as usual, an enforce listener prints a plain deny, and an
 * unknown mode makes the file invalid with its line:col.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = resolve("dist/sidecar/cli.js");
const POLICY = [
  "version: 1",
  "listeners:",
  "  http:",
  "    mode: audit",
  "    allow:",
  "      - spiffe://example.org/ns/web/**",
  "    deny:",
  "      - spiffe://example.org/ns/web/sa/legacy",
  "  grpc:",
  "    allow:",
  "      - spiffe://example.org/ns/web/**",
  "",
].join("\n");

let dir: string;
let policy: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does) before these tests`);
  dir = await mkdtemp(join(tmpdir(), "check-policy-audit-"));
  policy = join(dir, "policy.yaml");
  await writeFile(policy, POLICY);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

describe("check-policy on an audit-mode listener", () => {
  const cases: [string, string, string][] = [
    ["http", "spiffe://example.org/ns/web/sa/legacy", "deny spiffe://example.org/ns/web/sa/legacy (audit: let through)"],
    ["http", "spiffe://example.org/ns/other/sa/x", "deny default (audit: let through)"],
    ["http", "spiffe://example.org/ns/web/sa/frontend", "allow spiffe://example.org/ns/web/**"],
    ["grpc", "spiffe://example.org/ns/other/sa/x", "deny default"],
    ["absent", "spiffe://example.org/ns/web/sa/frontend", "deny default"],
  ];
  for (const [listener, peer, line] of cases) {
    it(`prints "${line}" for ${peer} on ${listener}`, async () => {
      const res = await runCli(["check-policy", "--policy", policy, "--listener", listener, "--peer", peer]);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(`${line}\n`);
    });
  }

  it("refuses an unknown mode with its line:col and exits 1", async () => {
    const bad = join(dir, "bad-mode.yaml");
    await writeFile(bad, POLICY.replace("mode: audit", "mode: dry-run"));
    const res = await runCli(["check-policy", "--policy", bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('bad-mode.yaml:4:11: listeners.http.mode: expected one of enforce, audit, got "dry-run"');
  });
});
