/**
 * What a mesh-ca command gets from the CLI: its arguments' output streams,
 * environment and clock, so tests can run commands in process.
 */
import { UsageError } from "../../lib/cli/flags.js";
import { systemClock, type Clock } from "../../lib/clock.js";

/** I/O and environment of one command run. */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  clock: Clock;
}

/** The default context: the process's own streams, environment and clock. */
export function processContext(): CommandContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, clock: systemClock };
}

/** Collects value problems of several flags and throws them as one UsageError. */
export class FlagProblems {
  private readonly problems: string[] = [];

  constructor(private readonly command: string) {}

  /** Runs parse; on a thrown Error records `--flag: message` and returns undefined. */
  check<T>(flag: string, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      this.problems.push(`${this.command}: --${flag}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Throws UsageError when anything was recorded. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw new UsageError(`${this.problems.join("\n")}\nrun "${this.command} --help" for usage`);
  }
}
