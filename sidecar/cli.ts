#!/usr/bin/env node
/**
 * The mesh-sidecar command:
 *   mesh-sidecar --config FILE
 *   mesh-sidecar check-policy --policy FILE [--listener NAME --peer ID]
 * Exit codes: 0 ok (and after a complete SIGTERM drain), 1 runtime failure
 * (or an invalid policy for check-policy, or a second signal during drain),
 * 2 usage or config error.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../lib/config/errors.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../lib/cli/flags.js";
import { createLogger, type Logger } from "../lib/log.js";
import { checkPolicy } from "./policy/check-policy.js";
import { loadSidecarConfig } from "./config.js";
import { SidecarError, SidecarErrorCode } from "./errors.js";
import { startSidecar } from "./sidecar.js";
import { Registry } from "prom-client";
import { registerProcessMetrics } from "../lib/admin/process-metrics.js";

const RUN_FLAGS = {
  config: { type: "string", description: "sidecar config file (YAML, see docs/sidecar.md)", placeholder: "FILE", required: true },
} satisfies FlagSpecs;

const CHECK_FLAGS = {
  policy: { type: "string", description: "policy file to validate", placeholder: "FILE", required: true },
  listener: { type: "string", description: "inbound listener name to explain a decision for (with --peer)", placeholder: "NAME" },
  peer: { type: "string", description: "peer SPIFFE ID to explain a decision for (with --listener)", placeholder: "ID" },
} satisfies FlagSpecs;

const RUN_SUMMARY = `Runs the mutual-TLS sidecar: gets an SVID from mesh-ca, proxies inbound (mTLS -> app) and
outbound (app -> mTLS) listeners, enforces the peer policy, serves /metrics, /healthz, /readyz.

Other command:
  mesh-sidecar check-policy --policy FILE [--listener NAME --peer ID]`;

const CHECK_SUMMARY = `Validates a policy file (exit 0 valid, 1 invalid with every error and its line:col).
With --listener and --peer, prints the decision ("allow" or "deny") and the entry that made it (or "default").`;

async function main(argv: string[]): Promise<number | "running"> {
  if (argv[0] === "check-policy") {
    const flags = parseFlags("mesh-sidecar check-policy", argv.slice(1), CHECK_FLAGS);
    if (flags.help) {
      process.stdout.write(formatHelp("mesh-sidecar check-policy", CHECK_SUMMARY, CHECK_FLAGS));
      return 0;
    }
    return checkPolicy({ policy: flags.policy as string, listener: flags.listener, peer: flags.peer }, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  }
  const flags = parseFlags("mesh-sidecar", argv, RUN_FLAGS);
  if (flags.help) {
    process.stdout.write(formatHelp("mesh-sidecar", RUN_SUMMARY, RUN_FLAGS));
    return 0;
  }
  const file = flags.config as string;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    process.stderr.write(`mesh-sidecar: cannot read --config ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  const config = loadSidecarConfig(text, file, process.env);
  const log = createLogger({ name: "mesh-sidecar", level: config.log.level });
  // The running program also reports its own CPU and memory; tests that embed the sidecar don't need them.
  const registry = new Registry();
  registerProcessMetrics(registry);
  const sidecar = await startSidecar(config, { log, registry });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, "second signal: exiting at once");
      exit(log, 1);
      return;
    }
    log.info({ signal, graceMs: config.limits.drainGraceMs }, "shutting down");
    sidecar.drain().then(
      () => exit(log, 0),
      (err: unknown) => {
        log.error({ err: (err as Error).message }, "drain failed");
        exit(log, 1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return "running";
}

function exit(log: Logger, code: number): void {
  log.flush(() => process.exit(code));
  // flush waits for the destination; do not let a stuck one hold the exit.
  setTimeout(() => process.exit(code), 1_000).unref();
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== "running") process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof SidecarError) {
      process.stderr.write(`mesh-sidecar: ${err.message}\n`);
      process.exitCode = err.code === SidecarErrorCode.FILE_UNREADABLE ? 2 : 1;
      return;
    }
    process.stderr.write(`mesh-sidecar: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
