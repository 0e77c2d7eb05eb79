/**
 * The local mesh's child processes: started in their own process groups (so
 * a Ctrl-C in the terminal reaches only `npm start`, which then stops each
 * child once, in order, by PID), their output relayed line by line, and
 * none left behind when `npm start` itself exits.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { LogRelay } from "./log-relay.js";

/** A child of the local mesh. */
export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once it has exited. */
  readonly done: boolean;
  /** The last lines it wrote, for error messages. */
  recentLines(): string[];
}

/** What to start. */
export interface ChildSpec {
  name: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** How long it may take to stop after SIGTERM (its own drain grace plus a margin). */
  stopGraceMs: number;
}

const RECENT_LINES = 30;

/** Starts, watches and stops the mesh's processes. */
export class Supervisor {
  private readonly children: { child: Child; proc: ChildProcess; spec: ChildSpec }[] = [];
  private readonly onUnexpectedExit: (child: Child) => void;
  private stopping = false;

  constructor(
    private readonly relay: LogRelay,
    onUnexpectedExit: (child: Child) => void,
  ) {
    this.onUnexpectedExit = onUnexpectedExit;
    // Last resort when npm start dies of an exception: no orphans.
    process.once("exit", () => this.killAllNow());
  }

  /** Starts `node ARGS...` with the same Node binary as ours. */
  start(spec: ChildSpec): Child {
    const proc = spawn(process.execPath, [...spec.args], { env: spec.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const recent: string[] = [];
    const remember = (text: string): void => {
      recent.push(text);
      if (recent.length > RECENT_LINES) recent.shift();
    };
    const streams = [this.pump(proc.stdout, spec.name, "stdout", remember), this.pump(proc.stderr, spec.name, "stderr", remember)];
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.once("error", (err) => {
        remember(`cannot start: ${err.message}`);
        done = true;
        resolve({ code: 127, signal: null });
      });
      proc.once("exit", (code, signal) => {
        void Promise.all(streams).then(() => {
          done = true;
          resolve({ code, signal });
        });
      });
    });
    const child: Child = {
      name: spec.name,
      pid: proc.pid,
      exited,
      get done() {
        return done;
      },
      recentLines: () => [...recent],
    };
    void exited.then(() => {
      if (!this.stopping) this.onUnexpectedExit(child);
    });
    this.children.push({ child, proc, spec });
    return child;
  }

  /**
   * Stops every child in reverse start order (sidecars before apps before
   * the CA, so nothing logs errors about a peer that vanished first): SIGTERM
   * by PID, SIGKILL when it outlives its grace.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const { child, spec } of [...this.children].reverse()) {
      if (child.done || child.pid === undefined) continue;
      signal(child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (child.pid !== undefined) signal(child.pid, "SIGKILL");
      }, spec.stopGraceMs);
      await child.exited;
      clearTimeout(timer);
    }
  }

  /** SIGKILL to every child still running; for a second Ctrl-C and for our own exit. */
  killAllNow(): void {
    this.stopping = true;
    for (const { child } of this.children) {
      if (!child.done && child.pid !== undefined) signal(child.pid, "SIGKILL");
    }
  }

  /** True while `stopAll` or `killAllNow` is in progress. */
  get isStopping(): boolean {
    return this.stopping;
  }

  private pump(stream: NodeJS.ReadableStream | null, name: string, kind: "stdout" | "stderr", remember: (text: string) => void): Promise<void> {
    if (!stream) return Promise.resolve();
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        remember(l);
        this.relay.line(name, kind, l);
      }
    });
    return new Promise((resolve) =>
      stream.once("close", () => {
        if (partial) {
          remember(partial);
          this.relay.line(name, kind, partial);
        }
        resolve();
      }),
    );
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already exited
  }
}

/**
 * Runs `node ARGS...` to completion (the mesh-ca commands that prepare the
 * state: init, issue, token create) and returns its status and output.
 */
export function runNode(args: readonly string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...args], { env, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? (r.error ? r.error.message : "") };
}
