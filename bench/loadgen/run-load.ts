/**
 * The caller's side of the load generator: each job runs as its own
 * `node dist/bench/loadgen/loadgen.js '<job JSON>'` process on the load core,
 * and its one JSON result line is read back.
 */
import { join } from "node:path";
import { runToEnd } from "../machine/processes.js";
import type { LoadJob, LoadResult } from "./jobs.js";

/** Where the load generator runs. */
export interface LoadContext {
  readonly repoRoot: string;
  readonly loadCore: number | undefined;
}

/** Runs one load-generator job in its own pinned process. */
export async function runLoad(job: LoadJob, ctx: LoadContext, timeoutMs = 120_000): Promise<LoadResult> {
  const out = await runToEnd(
    {
      name: `loadgen ${job.kind}`,
      core: ctx.loadCore,
      command: process.execPath,
      args: [join(ctx.repoRoot, "dist/bench/loadgen/loadgen.js"), JSON.stringify(job)],
    },
    timeoutMs,
  );
  return parseLoadResult(out);
}

/** The last line of a load process's output; JSON has no NaN, so its nulls are NaN again. */
export function parseLoadResult(output: string): LoadResult {
  const last = output.trim().split("\n").pop() ?? "";
  return JSON.parse(last, (_key, value: unknown) => (value === null ? Number.NaN : value)) as LoadResult;
}
