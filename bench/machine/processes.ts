/**
 * Child processes of the benchmark: each pinned to one core with taskset,
 * with the open-files limit raised (2,000 idle connections are 4,000 sockets
 * in a proxy), stopped by pid, their stderr kept for the error message.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { request } from "node:http";

/** A started child process. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The last few KiB of its stderr and stdout, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** How to start a child. */
export interface SpawnOptions {
  readonly name: string;
  /** Core for taskset; undefined runs unpinned. */
  readonly core: number | undefined;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Soft open-files limit to ask for (clamped to the hard limit). */
  readonly nofile?: number;
}

const KEEP = 8192;

/**
 * Starts `command` through bash (for ulimit) and taskset, both with `exec`,
 * so the pid we hold is the program's own and /proc/<pid> describes it.
 */
export function spawnPinned(o: SpawnOptions): Child {
  const nofile = o.nofile ?? 65536;
  const script = `ulimit -Hn ${nofile} 2>/dev/null; h=$(ulimit -Hn); n=${nofile}; if [ "$h" != unlimited ] && [ "$h" -lt "$n" ]; then n=$h; fi; ulimit -n "$n"; exec "$@"`;
  const pinned = o.core === undefined ? [o.command, ...o.args] : ["taskset", "-c", String(o.core), o.command, ...o.args];
  const proc = spawn("bash", ["-c", script, "bash", ...pinned], {
    env: o.env ?? process.env,
    cwd: o.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (proc.pid === undefined) throw new Error(`${o.name}: could not start ${o.command}`);
  let tail = "";
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString("utf8")).slice(-KEEP);
  };
  proc.stderr?.on("data", keep);
  proc.stdout?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    if (proc.exitCode !== null) resolve(proc.exitCode);
    else proc.once("exit", (code) => resolve(code));
  });
  return {
    name: o.name,
    pid: proc.pid,
    process: proc,
    output: () => tail,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Collects a child's stdout and resolves with it when the child exits 0. */
export async function runToEnd(o: SpawnOptions, timeoutMs: number): Promise<string> {
  const child = spawnPinned(o);
  let out = "";
  child.process.stdout?.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const timer = setTimeout(() => void child.stop(1000), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${o.name} exited with ${code}:\n${child.output()}`);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` resolves true, or throws after `timeoutMs` with `what`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.process.exitCode !== null || child.process.signalCode !== null)) {
      throw new Error(`${child.name} exited before ${what}:\n${child.output()}`);
    }
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${child ? `:\n${child.output()}` : ""}`);
}

/** True when a TCP connection to host:port opens. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The status code of GET url (plain HTTP), or 0 when nothing answers. */
export function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** A port that was free a moment ago on 127.0.0.1 (configs need a fixed port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
