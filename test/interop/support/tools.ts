/**
 * The real tools the interop tests drive (Debian packages that .ci/run
 * installs). A missing tool fails the test with the package to install;
 * nothing is skipped.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of `name` on PATH, or a thrown error naming the Debian package. */
export function requireTool(name: string, debianPackage: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === "") {
    throw new Error(`${name} is not installed: apt-get install ${debianPackage} (.ci/run installs it)`);
  }
  return path;
}

/** The promtool binary: found, or extracted from Debian's prometheus .deb by install-promtool.sh. */
export function requirePromtool(): string {
  const script = join(dirname(fileURLToPath(import.meta.url)), "..", "install-promtool.sh");
  const r = spawnSync("bash", [script], { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`cannot get promtool: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout.trim().split("\n").pop() as string;
}
