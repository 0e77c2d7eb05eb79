/**
 * What the figures were measured on, and the tools the bench needs: haproxy
 * (installed with apt when absent, as the issue asks) and taskset.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Facts printed with every run and stored in its JSON. */
export interface MachineFacts {
  readonly cpu: string;
  readonly cores: number;
  readonly kernel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly openssl: string;
  readonly haproxy: string;
}

/** The machine and this Node. */
export async function machineFacts(haproxy: string | undefined): Promise<MachineFacts> {
  let haproxyVersion = "absent";
  if (haproxy) {
    const { stdout } = await run(haproxy, ["-v"]).catch(() => ({ stdout: "unknown" }));
    haproxyVersion = /version (\S+)/.exec(stdout)?.[1] ?? stdout.split("\n")[0] ?? "unknown";
  }
  const meminfo = existsSync("/proc/meminfo") ? readFileSync("/proc/meminfo", "utf8") : "";
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    kernel: release(),
    memoryGiB: Math.round(memKb / 1024 / 1024),
    node: process.versions.node,
    openssl: process.versions.openssl,
    haproxy: haproxyVersion,
  };
}

async function which(cmd: string): Promise<string | undefined> {
  const { stdout } = await run("bash", ["-c", `command -v ${cmd} || true`]);
  return stdout.trim() || undefined;
}

/** The haproxy binary; installs Debian's package when absent (needs root and apt-get). */
export async function ensureHaproxy(log: (line: string) => void): Promise<string | undefined> {
  const found = existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : await which("haproxy");
  if (found) return found;
  if (process.getuid?.() !== 0 || !(await which("apt-get"))) {
    log("haproxy is absent and cannot be installed here (needs root and apt-get): ratios to haproxy will be missing");
    return undefined;
  }
  log("haproxy is absent: apt-get install haproxy ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    await run("apt-get", ["update", "-qq"], { env, timeout: 300_000 });
    await run("apt-get", ["install", "-y", "-qq", "haproxy"], { env, timeout: 300_000 });
  } catch (err) {
    log(`apt-get install haproxy failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    return undefined;
  }
  return existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : await which("haproxy");
}

/** Proxy and load cores: 0 and 1 when there are two and taskset exists; else unpinned. */
export async function pickCores(log: (line: string) => void): Promise<{ proxy: number | undefined; load: number | undefined }> {
  if (!(await which("taskset"))) {
    log("taskset not found (util-linux): processes run unpinned");
    return { proxy: undefined, load: undefined };
  }
  if (cpus().length < 2) {
    log("one core only: proxy and load generator share it; CPU per operation is still per process");
    return { proxy: 0, load: 0 };
  }
  return { proxy: 0, load: 1 };
}
