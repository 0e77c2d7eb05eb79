#!/usr/bin/env node
/**
 * The mesh-sidecar command:
 *   mesh-sidecar --config FILE | --version
 *   mesh-sidecar check-config --config FILE
 *   mesh-sidecar check-policy --policy FILE [--key KEY] [--trust-domain TD] [--listener NAME --peer ID [--exit-code]]
 * Exit codes: 0 ok (and after a complete SIGTERM drain), 1 runtime failure
 * (or, for the checks, something invalid; with --exit-code a deny; or a
 * second signal during drain), 2 usage or config error.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../lib/config/errors.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../lib/cli/flags.js";
import { createLogger, type Logger } from "../lib/log.js";
import { versionLine } from "../lib/version.js";
import { checkConfig } from "./check-config.js";
import { checkPolicy } from "./policy/check-policy.js";
import { loadSidecarConfig } from "./config.js";
import { SidecarError, SidecarErrorCode } from "./errors.js";
import { startSidecar } from "./sidecar.js";
import { Registry } from "prom-client";
import { registerProcessMetrics } from "../lib/admin/process-metrics.js";

const PROGRAM = "mesh-sidecar";

const RUN_FLAGS = {
  config: { type: "string", description: "sidecar config file (YAML, see docs/sidecar.md)", placeholder: "FILE", required: true },
  version: { type: "boolean", short: "V", answersAlone: true, description: "print the version, and Node's and OpenSSL's, and exit" },
} satisfies FlagSpecs;

const CHECK_CONFIG_FLAGS = {
  config: { type: "string", description: "sidecar config file to validate, with the bundle and policy files it names", placeholder: "FILE", required: true },
} satisfies FlagSpecs;

const CHECK_FLAGS = {
  policy: { type: "string", description: "policy file, or the Kubernetes ConfigMap holding it, to validate", placeholder: "FILE", required: true },
  key: { type: "string", description: "the ConfigMap key holding the policy (default policy.yaml, or the only key)", placeholder: "KEY" },
  "trust-domain": { type: "string", description: "warn about entries of any other trust domain (the sidecar's trustDomain)", placeholder: "TD" },
  listener: { type: "string", description: "inbound listener name to explain a decision for (with --peer)", placeholder: "NAME" },
  peer: { type: "string", description: "peer SPIFFE ID to explain a decision for (with --listener)", placeholder: "ID" },
  "exit-code": { type: "boolean", description: "with --listener and --peer: exit 1 when the decision is deny" },
} satisfies FlagSpecs;

const RUN_SUMMARY = `Runs the mutual-TLS sidecar: gets an SVID from mesh-ca, proxies inbound (mTLS -> app) and
outbound (app -> mTLS) listeners, enforces the peer policy, serves /metrics, /healthz, /readyz, /status.

Other commands:
  mesh-sidecar check-config --config FILE
  mesh-sidecar check-policy --policy FILE [--key KEY] [--trust-domain TD] [--listener NAME --peer ID [--exit-code]]`;

const CHECK_CONFIG_SUMMARY = `Validates a sidecar config and the files it names, as the sidecar does at start, without starting
anything, contacting mesh-ca or binding a port: the config (every error with its line:col), ca.bundleFile,
and policyFile with how its listeners fit the config's inbound listeners (printed as warnings).
Exit 0 valid (a short summary on stdout), 1 invalid or unreadable (every error on stderr), 2 usage error.`;

const CHECK_SUMMARY = `Validates a policy file (exit 0 valid, 1 invalid with every error and its line:col), or the
Kubernetes ConfigMap holding it (positions are the ConfigMap file's).
With --listener and --peer, prints the decision ("allow" or "deny") and the entry that made it (or "default").`;

const lineIo = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
};

async function main(argv: string[]): Promise<number | "running"> {
  if (argv[0] === "check-policy") {
    const flags = parseFlags(`${PROGRAM} check-policy`, argv.slice(1), CHECK_FLAGS);
    if (flags.help) {
      process.stdout.write(formatHelp(`${PROGRAM} check-policy`, CHECK_SUMMARY, CHECK_FLAGS));
      return 0;
    }
    return checkPolicy(
      { policy: flags.policy as string, key: flags.key, trustDomain: flags["trust-domain"], listener: flags.listener, peer: flags.peer, exitCode: flags["exit-code"] },
      lineIo,
    );
  }
  if (argv[0] === "check-config") {
    const flags = parseFlags(`${PROGRAM} check-config`, argv.slice(1), CHECK_CONFIG_FLAGS);
    if (flags.help) {
      process.stdout.write(formatHelp(`${PROGRAM} check-config`, CHECK_CONFIG_SUMMARY, CHECK_CONFIG_FLAGS));
      return 0;
    }
    return checkConfig({ config: flags.config as string }, lineIo, process.env);
  }
  const flags = parseFlags(PROGRAM, argv, RUN_FLAGS);
  if (flags.help) {
    process.stdout.write(formatHelp(PROGRAM, RUN_SUMMARY, RUN_FLAGS));
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`${versionLine(PROGRAM)}\n`);
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
