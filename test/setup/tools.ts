/**
 * Vitest global setup: the real tools the tests drive are present before any
 * test runs. On Debian as root, missing ones are installed with apt-get (as
 * CI's machine is); anywhere else the run stops at once with the command to
 * run. No test is ever skipped for a missing tool.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A command-line tool some tests run, and the Debian package that ships it. */
export interface Tool {
  readonly bin: string;
  readonly debianPackage: string;
  /** Which tests need it, for the error message. */
  readonly usedBy: string;
}

/** Every external tool of the test suite (README "Development" lists the same). */
export const TEST_TOOLS: readonly Tool[] = [
  { bin: "openssl", debianPackage: "openssl", usedBy: "interop (s_client, x509 checks) and the README flow" },
  { bin: "curl", debianPackage: "curl", usedBy: "interop and the README flow" },
  { bin: "haproxy", debianPackage: "haproxy", usedBy: "interop (haproxy as mesh client and upstream)" },
  { bin: "testssl", debianPackage: "testssl.sh", usedBy: "interop (protocol, cipher and group scans)" },
  { bin: "sslscan", debianPackage: "sslscan", usedBy: "interop (scans with a client certificate)" },
  { bin: "kubectl", debianPackage: "kubernetes-client", usedBy: "deploy (kubectl kustomize)" },
  { bin: "ip", debianPackage: "iproute2", usedBy: "e2e (pods in network namespaces)" },
];

const PROMTOOL_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "interop", "install-promtool.sh");

function onPath(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;
}

/** The tools of `tools` not on PATH (KUBECTL, like the deploy tests, may name kubectl elsewhere). */
export function missingTools(tools: readonly Tool[] = TEST_TOOLS, isPresent: (bin: string) => boolean = onPath): Tool[] {
  return tools.filter((t) => !(t.bin === "kubectl" && process.env.KUBECTL) && !isPresent(t.bin));
}

/** The message for tools we could not install: what is missing, who needs it, and the command that fixes it. */
export function missingToolsMessage(missing: readonly Tool[], why: string): string {
  const lines = missing.map((t) => `  ${t.bin} (Debian package ${t.debianPackage}): ${t.usedBy}`);
  const packages = missing.map((t) => t.debianPackage).join(" ");
  return [
    `the tests need tools that are not installed (${why}):`,
    ...lines,
    `install them, then run npm test again:  sudo apt-get install -y ${packages}`,
  ].join("\n");
}

function aptInstall(packages: readonly string[]): { ok: boolean; output: string } {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = (): ReturnType<typeof spawnSync> =>
    spawnSync("apt-get", ["install", "-y", "-qq", ...packages], { env, encoding: "utf8", timeout: 600_000 });
  let r = install();
  if (r.status !== 0) {
    // A fresh machine may have no package lists yet.
    spawnSync("apt-get", ["update", "-qq"], { env, stdio: "ignore", timeout: 300_000 });
    r = install();
  }
  return { ok: r.status === 0, output: `${String(r.stdout)}${String(r.stderr)}`.trim() };
}

/** Installs what is missing when it can; otherwise throws the message above. */
export function ensureTools(): void {
  const missing = missingTools();
  if (missing.length > 0) {
    const canInstall = process.getuid?.() === 0 && existsSync("/etc/debian_version") && onPath("apt-get");
    if (!canInstall) {
      throw new Error(missingToolsMessage(missing, process.getuid?.() === 0 ? "this is not a Debian machine with apt-get" : "not root, so the test setup cannot install them"));
    }
    process.stderr.write(`test setup: installing ${missing.map((t) => t.debianPackage).join(" ")} with apt-get\n`);
    const r = aptInstall(missing.map((t) => t.debianPackage));
    const still = missingTools();
    if (!r.ok || still.length > 0) throw new Error(`${missingToolsMessage(still.length > 0 ? still : missing, "apt-get install failed")}\napt-get said: ${r.output.slice(-2000)}`);
  }
  // promtool: Debian's prometheus .deb unpacked into a cache, never installed as a service.
  const p = spawnSync("bash", [PROMTOOL_SCRIPT], { encoding: "utf8", timeout: 300_000 });
  if (p.status !== 0) throw new Error(`the tests need promtool: ${p.stderr.trim() || p.error?.message}`);
  process.env.PROMTOOL = p.stdout.trim().split("\n").pop();
}

/** Vitest's global-setup hook. */
export default function setup(): void {
  ensureTools();
}
