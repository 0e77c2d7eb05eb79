/**
 * The mesh-ca command line: dispatch to a command, map errors to exit codes
 * (0 success, 1 runtime failure, 2 usage or config error, every problem
 * listed at once). Separate from cli.ts so tests can run commands in process.
 */
import { UsageError } from "../../lib/cli/flags.js";
import { ConfigError } from "../../lib/config/errors.js";
import { versionLine } from "../../lib/version.js";
import { runInit } from "./init.js";
import { runIssue } from "./issue.js";
import { runRotate } from "./rotate.js";
import { runServe } from "./serve.js";
import { runToken } from "./token.js";
import { processContext, type CommandContext } from "./context.js";
import { CaError } from "../errors.js";

const USAGE = `Usage: mesh-ca <command> [flags]

The SPIFFE workload certificate authority of mtls-mesh.

Commands:
  init    create a root CA and a working ca.yaml for a trust domain
  serve   serve the HTTPS issuance API and the admin port
  issue   issue an SVID offline with the CA's key
  token   create, list and revoke join tokens
  rotate  replace the root without downtime: prepare, activate, retire, status

Run "mesh-ca <command> --help" for the flags of a command,
"mesh-ca --version" (or -V) for the version and Node's and OpenSSL's.
Reference: docs/ca.md
`;

/** Runs one mesh-ca command line; returns the exit code. */
export async function main(argv: string[], ctx: CommandContext = processContext()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "init":
        return await runInit(rest, ctx);
      case "serve":
        return await runServe(rest, ctx);
      case "issue":
        return await runIssue(rest, ctx);
      case "token":
        return await runToken(rest, ctx);
      case "rotate":
        return await runRotate(rest, ctx);
      case "--help":
      case "-h":
      case "help":
        ctx.stdout.write(USAGE);
        return 0;
      case "--version":
      case "-V":
        // The OpenSSL version decides TLS behaviour (e.g. whether tls.groups may name X25519MLKEM768).
        if (rest.length > 0) throw new UsageError(`mesh-ca ${command}: takes no arguments, got ${rest.join(" ")}\nrun "mesh-ca --help" for usage`);
        ctx.stdout.write(`${versionLine("mesh-ca")}\n`);
        return 0;
      case undefined:
        ctx.stderr.write(USAGE);
        return 2;
      default:
        ctx.stderr.write(`mesh-ca: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      ctx.stderr.write(`mesh-ca: config error (${err.issues.length} problem${err.issues.length === 1 ? "" : "s"}):\n${err.message}\n`);
      return 2;
    }
    if (err instanceof CaError) {
      ctx.stderr.write(`mesh-ca: ${err.message} [${err.code}]\n`);
      return 1;
    }
    ctx.stderr.write(`mesh-ca: unexpected failure: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
