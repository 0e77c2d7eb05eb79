/**
 * Child processes for end-to-end and interop tests: spawn a real program,
 * keep its output for assertions (and for the failure message), wait for it
 * to be ready, stop it by PID with SIGTERM then SIGKILL. Plus the small port
 * and HTTP helpers every such test needs. Nothing here knows about mesh-ca or
 * mesh-sidecar; test/e2e/support/ builds on it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { request } from "node:http";
import { createServer } from "node:net";

/** What to run. `name` prefixes the process's lines in failure output. */
export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Write this to stdin, then close it. */
  stdin?: string;
}

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One line of output with the stream it came from. */
export interface OutputLine {
  stream: "stdout" | "stderr";
  text: string;
}

/** A running (or finished) child process whose output is kept line by line. */
export class ManagedProcess {
  readonly name: string;
  readonly lines: OutputLine[] = [];
  /** Resolves once the process has exited and its output streams are drained. */
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private readonly lineListeners: ((line: OutputLine) => void)[] = [];

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    const options: SpawnOptions = {
      env: spec.env ?? process.env,
      stdio: [spec.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    };
    this.child = spawn(spec.command, [...spec.args], options);
    if (spec.stdin !== undefined) this.child.stdin?.end(spec.stdin);
    const done = [this.collect(this.child.stdout, "stdout"), this.collect(this.child.stderr, "stderr")];
    this.exited = new Promise<ExitStatus>((resolve) => {
      this.child.once("error", (err) => {
        this.push("stderr", `spawn failed: ${err.message}`);
        this.status = { code: 127, signal: null };
        resolve(this.status);
      });
      this.child.once("exit", (code, signal) => {
        void Promise.all(done).then(() => {
          this.status = { code, signal };
          this.notify();
          resolve(this.status);
        });
      });
    });
    if (process.env.E2E_VERBOSE) {
      this.onLine((line) => process.stderr.write(`[${this.name}] ${line.text}\n`));
    }
  }

  /** The OS process id (undefined only if spawning failed). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The exit status once the process has ended. */
  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** stdout and stderr interleaved in arrival order. */
  get output(): string {
    return this.lines.map((l) => l.text).join("\n");
  }

  /** stdout only. */
  get stdout(): string {
    return this.lines.filter((l) => l.stream === "stdout").map((l) => l.text).join("\n");
  }

  /** Every output line that parses as a JSON object (pino logs). */
  jsonLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const { text } of this.lines) {
      if (!text.startsWith("{")) continue;
      try {
        out.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    return out;
  }

  /** Sends a signal to this process (by PID) if it is still running. */
  signal(sig: NodeJS.Signals): void {
    if (this.status === undefined && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the first line (already seen or future) that matches; rejects on exit or timeout. */
  async waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs = 20_000): Promise<string> {
    const test = typeof match === "function" ? match : (line: string) => match.test(line);
    return this.waitUntil(() => this.lines.find((l) => test(l.text))?.text, `a line matching ${String(match)}`, timeoutMs);
  }

  /** Resolves with the exit status; rejects if it does not exit within `timeoutMs`. */
  async waitForExit(timeoutMs = 20_000): Promise<ExitStatus> {
    return this.waitUntil(() => this.status, "exit", timeoutMs, { allowExit: true });
  }

  private async waitUntil<T>(probe: () => T | undefined, what: string, timeoutMs: number, { allowExit = false } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const found = probe();
        if (found !== undefined) {
          finish();
          resolve(found);
          return true;
        }
        if (this.status && !allowExit) {
          finish();
          reject(new Error(`${this.name} exited (${describeExit(this.status)}) before ${what}\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      const listener = (): void => void check();
      if (!check()) this.waiters.add(listener);
    });
  }

  /** The last lines of output, for error messages. */
  tail(n = 40): string {
    return this.lines
      .slice(-n)
      .map((l) => `  [${this.name}] ${l.text}`)
      .join("\n");
  }

  /** Calls `fn` for every future line. */
  onLine(fn: (line: OutputLine) => void): void {
    this.lineListeners.push(fn);
  }

  private push(stream: OutputLine["stream"], text: string): void {
    const line = { stream, text };
    this.lines.push(line);
    for (const fn of this.lineListeners) fn(line);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private collect(stream: NodeJS.ReadableStream | null, name: OutputLine["stream"]): Promise<void> {
    if (!stream) return Promise.resolve();
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) this.push(name, p);
    });
    return new Promise((resolve) =>
      stream.once("close", () => {
        if (partial) this.push(name, partial);
        resolve();
      }),
    );
  }
}

/** Processes started by one test file, stopped together in afterAll even when a test failed. */
export class ProcessGroup {
  private readonly procs: ManagedProcess[] = [];

  /** Starts a process and remembers it for stopAll. */
  start(spec: ProcessSpec): ManagedProcess {
    const p = new ManagedProcess(spec);
    this.procs.push(p);
    return p;
  }

  /** Every process started so far. */
  get all(): readonly ManagedProcess[] {
    return this.procs;
  }

  /** Stops every process still running, in reverse start order. */
  async stopAll(graceMs = 10_000): Promise<void> {
    for (const p of [...this.procs].reverse()) await p.stop(graceMs);
  }

  /** The tails of every process's output, for a failure message. */
  dump(n = 30): string {
    return this.procs.map((p) => p.tail(n)).join("\n");
  }
}

/** Runs a command to completion; resolves with its status and output (never rejects on a non-zero exit). */
export async function run(spec: Omit<ProcessSpec, "name"> & { name?: string }, timeoutMs = 60_000): Promise<ExitStatus & { stdout: string; stderr: string; output: string }> {
  const p = new ManagedProcess({ name: spec.name ?? spec.command, ...spec });
  const timer = setTimeout(() => p.signal("SIGKILL"), timeoutMs);
  const status = await p.exited;
  clearTimeout(timer);
  return {
    ...status,
    stdout: p.stdout,
    stderr: p.lines.filter((l) => l.stream === "stderr").map((l) => l.text).join("\n"),
    output: p.output,
  };
}

/** "exit code 1" / "signal SIGKILL". */
export function describeExit(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `exit code ${String(s.code)}`;
}

/** Polls `probe` until it returns a value other than undefined/false; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, { timeoutMs = 20_000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A plain-HTTP response. */
export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** GET (or another method) over plain HTTP with a timeout; rejects on connection errors. */
export function httpRequest(url: string, { method = "GET", body, timeoutMs = 5_000, headers = {} }: { method?: string; body?: string; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { connection: "close", ...headers }, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Waits until `url` answers 200 (an admin /readyz); rejects with the last answer after `timeoutMs`. */
export async function waitForHttpOk(url: string, timeoutMs = 20_000, alive?: ManagedProcess): Promise<void> {
  let last = "no answer";
  try {
    await waitFor(
      `${url} to answer 200`,
      async () => {
        if (alive?.exitStatus) throw new Error(`${alive.name} exited (${describeExit(alive.exitStatus)})`);
        const r = await httpRequest(url, { timeoutMs: 2_000 }).catch((err: Error) => ({ status: 0, body: err.message }));
        last = `${r.status} ${r.body.trim()}`;
        return r.status === 200;
      },
      { timeoutMs, intervalMs: 150 },
    );
  } catch (err) {
    const tail = alive ? `\n${alive.tail()}` : "";
    throw new Error(`${(err as Error).message}; last answer: ${last}${tail}`);
  }
}

/** True when `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports below Linux's ephemeral range (32768+), so outgoing connections never hold one we hand out. */
const PORT_RANGE = { from: 20_000, to: 32_000 } as const;
const handedOut = new Set<number>();

/**
 * A port that is free right now, picked at random in [20000, 32000) and
 * never handed out twice by this process. Another process may still take it
 * before the caller binds it; the random pick keeps that rare.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (handedOut.has(port) || !(await isPortFree(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found in ${PORT_RANGE.from}-${PORT_RANGE.to - 1}`);
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort(host));
  return ports;
}

/**
 * The first port of `size` consecutive free ports in [20000, 32000), for
 * programs that take one base port (the local mesh).
 */
export async function freePortBlock(size: number, host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from - size));
    let ok = true;
    for (let p = base; p < base + size && ok; p++) ok = !handedOut.has(p) && (await isPortFree(p, host));
    if (!ok) continue;
    for (let p = base; p < base + size; p++) handedOut.add(p);
    return base;
  }
  throw new Error(`no block of ${size} free ports found in ${PORT_RANGE.from}-${PORT_RANGE.to - 1}`);
}
