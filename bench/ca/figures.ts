/**
 * The CA's figures. In process: bench/ca-issuance.ts (the CA engineer's
 * signing benchmark, `npm run bench:ca`) is run as a step and its output
 * shown, under this Node and, when the bench obtained it, under Node 24
 * (the runtime of the container image). End to end: against mesh-ca as its own process on the proxy core,
 * SVID issuances per second (new TLS connection + bearer token + CSR + sign)
 * as a ratio to bare TLS handshakes per second on the same server, and the
 * CA's CPU per operation.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BenchPki } from "../pki/pki.js";
import type { CaLoadJob, LoadResult } from "../loadgen/jobs.js";
import { parseLoadResult, type LoadContext } from "../loadgen/run-load.js";
import { runToEnd } from "../machine/processes.js";
import { fmt, layout } from "../report/report.js";

/** Printed text and JSON of the CA figures. */
export interface CaFigures {
  readonly text: string;
  readonly json: unknown;
}

/** One end-to-end measurement. */
interface Rate {
  readonly perSecond: number;
  readonly caCpuUs: number;
  readonly errors: number;
}

async function caLoad(job: CaLoadJob, repoRoot: string, lctx: LoadContext): Promise<LoadResult> {
  const out = await runToEnd(
    { name: `ca-load ${job.kind}`, core: lctx.loadCore, command: process.execPath, args: [join(repoRoot, "dist/bench/ca/load.js"), JSON.stringify(job)] },
    120_000,
  );
  return parseLoadResult(out);
}

function rate(r: LoadResult): Rate {
  return { perSecond: r.ops / r.seconds, caCpuUs: (r.proxyCpu / r.ops) * 1e6, errors: r.errors };
}

async function inProcess(repoRoot: string, caCore: number | undefined, log: (l: string) => void, node = process.execPath): Promise<string | undefined> {
  const script = join(repoRoot, "dist/bench/ca-issuance.js");
  if (!existsSync(script)) {
    log("CA in-process issuance: dist/bench/ca-issuance.js is not built yet (bench/ca-issuance.ts belongs to the CA work)");
    return undefined;
  }
  try {
    return (await runToEnd({ name: "ca-issuance", core: caCore, command: node, args: [script] }, 180_000)).trim();
  } catch (err) {
    log(`CA in-process issuance failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    return undefined;
  }
}

/** Runs what is available; undefined when nothing is. */
export async function caFigures(
  repoRoot: string,
  pki: BenchPki,
  lctx: LoadContext,
  caCore: number | undefined,
  quick: boolean,
  log: (line: string) => void,
  node24?: string,
): Promise<CaFigures | undefined> {
  const parts: string[] = [];
  const json: Record<string, unknown> = {};
  const own = await inProcess(repoRoot, caCore, log);
  if (own !== undefined) {
    parts.push(`CA issuance in process (node dist/bench/ca-issuance.js, core ${caCore ?? "any"}):\n${own}`);
    json.inProcess = own;
  }
  const own24 = node24 === undefined ? undefined : await inProcess(repoRoot, caCore, log, node24);
  if (own24 !== undefined) {
    parts.push(`CA issuance in process under Node 24 (${node24 ?? ""}):\n${own24}`);
    json.inProcessNode24 = own24;
  }
  const ca = pki.ca;
  if (ca.kind !== "mesh-ca" || ca.issuanceToken === undefined) {
    log("CA end-to-end issuance: needs mesh-ca (dist/ca/cli.js); skipped");
  } else {
    const base = { url: ca.url, caFile: ca.bundleFile, concurrency: 8, warmupMs: 500, durationMs: quick ? 1500 : 4000, ...(ca.pid ? { cpuPid: ca.pid } : {}) };
    const bare = rate(await caLoad({ kind: "ca-handshake", ...base }, repoRoot, lctx));
    const issued = rate(await caLoad({ kind: "ca-issue", token: ca.issuanceToken, ...base }, repoRoot, lctx));
    const rows = [
      ["bare TLS handshakes", fmt(bare.perSecond), fmt(bare.caCpuUs), String(bare.errors)],
      ["issuances (TLS + token + CSR + sign)", fmt(issued.perSecond), fmt(issued.caCpuUs), String(issued.errors)],
    ];
    parts.push(
      "CA end to end (mesh-ca serve on the proxy core, 8 concurrent clients, a new connection each):\n" +
        layout(["operation", "per second", "CA CPU µs each", "errors"], rows, false) +
        `\nissuance ÷ bare handshake: ${(issued.perSecond / bare.perSecond).toFixed(2)}× by rate, ` +
        `${(bare.caCpuUs / issued.caCpuUs).toFixed(2)}× by CA CPU per operation`,
    );
    json.endToEnd = { bareHandshake: bare, issuance: issued, ratioByRate: issued.perSecond / bare.perSecond, ratioByCpu: bare.caCpuUs / issued.caCpuUs };
  }
  return parts.length === 0 ? undefined : { text: parts.join("\n\n"), json };
}
