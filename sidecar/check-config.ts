/**
 * `mesh-sidecar check-config --config FILE`: everything the sidecar checks
 * at start before it binds a port or asks mesh-ca, with the very code the
 * start uses: the config (every error with line:col), the bootstrap bundle
 * file, and the policy file with how its listeners fit the config's inbound
 * listeners. Nothing is started, contacted or bound. Output is for people:
 * errors and warnings on stderr, a short summary on stdout.
 */
import { readFile } from "node:fs/promises";
import { ConfigError, formatWarning } from "../lib/config/errors.js";
import { formatHostPort } from "../lib/net/address.js";
import type { TrustBundle } from "../lib/spiffe/bundle.js";
import { loadSidecarConfig, type SidecarConfig } from "./config.js";
import { readBootstrapBundle } from "./credentials/bootstrap-bundle.js";
import { SidecarError } from "./errors.js";
import { foreignEntries } from "./policy/foreign-entries.js";
import { loadPolicy, type Policy } from "./policy/policy.js";
import { policyFitProblems } from "./policy/policy-fit.js";

/** Where check-config writes; the CLI passes process streams, tests pass buffers. */
export interface CheckConfigIo {
  out(line: string): void;
  err(line: string): void;
}

/** What the checks of the files a config names found. */
interface FileChecks {
  readonly errors: string[];
  readonly warnings: string[];
  bundle?: TrustBundle;
  policy?: Policy;
}

/**
 * Runs check-config and returns the exit code: 0 valid (summary on stdout,
 * warnings on stderr), 1 when the config, the bundle file or the policy
 * file is invalid or cannot be read (every error on stderr). `env` fills
 * `${NAME}` in the config, as at start.
 */
export async function checkConfig(args: { config: string }, io: CheckConfigIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let text: string;
  try {
    text = await readFile(args.config, "utf8");
  } catch (err) {
    io.err(`${args.config}: cannot read the config file: ${(err as Error).message}`);
    return 1;
  }
  let config: SidecarConfig;
  try {
    config = loadSidecarConfig(text, args.config, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return invalid(args.config, err.message.split("\n"), io);
  }
  const checks: FileChecks = { errors: [], warnings: config.warnings.map((w) => `${args.config}: warning: ${w}`) };
  await checkBundle(config, checks);
  await checkTokenFile(config, checks);
  await checkPolicyFile(config, checks);
  for (const w of checks.warnings) io.err(w);
  if (checks.errors.length > 0) return invalid(args.config, checks.errors, io);
  for (const line of summary(args.config, config, checks)) io.out(line);
  return 0;
}

function invalid(file: string, errors: readonly string[], io: CheckConfigIo): number {
  for (const line of errors) io.err(line);
  io.err(`${file}: invalid (${errors.length} ${errors.length === 1 ? "error" : "errors"})`);
  return 1;
}

/** ca.bundleFile as the start reads it: a file that cannot be read or holds no usable root stops the start. */
async function checkBundle(config: SidecarConfig, checks: FileChecks): Promise<void> {
  try {
    checks.bundle = await readBootstrapBundle(config.trustDomain, config.ca.bundleFile);
  } catch (err) {
    if (!(err instanceof SidecarError)) throw err;
    checks.errors.push(`${config.file}: ${err.message}`);
  }
}

/** The start does not read ca.tokenFile (the renewer does, and retries until the kubelet has written it): a warning, not an error. */
async function checkTokenFile(config: SidecarConfig, checks: FileChecks): Promise<void> {
  const file = config.ca.tokenFile;
  if (file === undefined) return;
  let token: string;
  try {
    token = await readFile(file, "utf8");
  } catch (err) {
    checks.warnings.push(`${config.file}: warning: ca.tokenFile ${file} cannot be read now (${(err as Error).message}); the sidecar retries until it can (in a pod, the kubelet writes it)`);
    return;
  }
  if (token.trim() === "") checks.warnings.push(`${config.file}: warning: ca.tokenFile ${file} is empty; the sidecar retries until it holds a token`);
}

/** policyFile as the start loads it, then how its listeners fit the config's and which entries can never match. */
async function checkPolicyFile(config: SidecarConfig, checks: FileChecks): Promise<void> {
  const file = config.policyFile;
  if (file === undefined) return;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    checks.errors.push(`${config.file}: cannot read policyFile ${file}: ${(err as Error).message}`);
    return;
  }
  try {
    checks.policy = loadPolicy(text, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    checks.errors.push(...err.message.split("\n"));
    return;
  }
  for (const p of policyFitProblems(checks.policy, config.inbound)) checks.warnings.push(formatWarning(file, { path: "", message: `listener "${p.listener}": ${p.message}` }));
  for (const issue of foreignEntries(text, config.trustDomain)) checks.warnings.push(formatWarning(file, issue));
}

function summary(file: string, config: SidecarConfig, checks: FileChecks): string[] {
  const roots = checks.bundle?.roots.length ?? 0;
  const lines = [
    `${file}: valid`,
    `  trust domain ${config.trustDomain.name}, mesh-ca ${config.ca.url.origin}, bootstrap bundle ${config.ca.bundleFile} (${roots} ${roots === 1 ? "root" : "roots"})`,
    ...config.inbound.map((l) => `  inbound ${l.name}: ${formatHostPort(l.listen)} -> app ${formatHostPort(l.forward)}`),
    ...config.outbound.map((l) => `  outbound ${l.name}: ${formatHostPort(l.listen)} -> ${formatHostPort(l.upstream)} (expects ${l.expectedPeer.source})`),
  ];
  const policy = checks.policy;
  if (policy && config.policyFile !== undefined) {
    const entries = policy.listeners.reduce((n, l) => n + policy.rulesOf(l).allow.length + policy.rulesOf(l).deny.length, 0);
    lines.push(`  policy ${config.policyFile}: ${policy.listeners.length} ${policy.listeners.length === 1 ? "listener" : "listeners"}, ${entries} ${entries === 1 ? "entry" : "entries"}`);
  }
  lines.push(`  admin ${formatHostPort(config.admin)}`);
  return lines;
}
