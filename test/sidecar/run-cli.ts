/**
 * Runs the built mesh-sidecar CLI (dist/sidecar/cli.js, made by `npm run
 * build`, which `npm test` runs first) as a child process and collects its
 * exit code and output, for the tests of its one-shot commands.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** The built CLI. */
export const CLI = resolve("dist/sidecar/cli.js");

/** What one run printed and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <cli> ...args` to its end; `cli` defaults to the built CLI of this checkout. */
export function runCli(args: string[], { env = process.env, cli = CLI }: { env?: NodeJS.ProcessEnv; cli?: string } = {}): Promise<CliRun> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" (npm test does) before these tests`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}
