/**
 * `mesh-sidecar check-policy --policy FILE [--key KEY] [--trust-domain TD]
 * [--listener NAME --peer ID [--exit-code]]`: validates a policy file (or
 * the Kubernetes ConfigMap holding it) the way the sidecar loads it, and
 * explains one decision. Output is one line per fact so scripts can read it.
 */
import { readFile } from "node:fs/promises";
import { ConfigError, formatWarning } from "../../lib/config/errors.js";
import { UsageError } from "../../lib/cli/flags.js";
import { SpiffeIdError } from "../../lib/spiffe/errors.js";
import { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { foreignEntries } from "./foreign-entries.js";
import { loadPolicyInput, placeIssue, policyInput, type PolicyInput } from "./policy-input.js";

/** Where check-policy writes; the CLI passes process streams, tests pass buffers. */
export interface CheckPolicyIo {
  out(line: string): void;
  err(line: string): void;
}

/** What check-policy is asked. */
export interface CheckPolicyArgs {
  readonly policy: string;
  /** The ConfigMap key holding the policy; default policy.yaml, or the only key. */
  readonly key?: string | undefined;
  /** Warn about entries of any other trust domain. */
  readonly trustDomain?: string | undefined;
  readonly listener?: string | undefined;
  readonly peer?: string | undefined;
  /** A `deny` decision exits 1. */
  readonly exitCode?: boolean | undefined;
}

/**
 * Runs check-policy and returns the exit code: 0 valid (and, with
 * listener/peer, the decision printed as `allow <entry>` or `deny <entry|default>`,
 * with ` (audit: let through)` after a deny of an audit-mode listener; with
 * exitCode any printed deny exits 1, audit or not, so a script sees what
 * enforce would do), 1 invalid (every error listed once as
 * FILE:LINE:COL: path: message, positions in FILE even for a ConfigMap).
 * Warnings (--trust-domain) go to stderr and change no exit code.
 * Throws UsageError for a bad --peer or --trust-domain, a --listener without
 * --peer, --exit-code without a decision, or a ConfigMap key to name.
 */
export async function checkPolicy(args: CheckPolicyArgs, io: CheckPolicyIo): Promise<number> {
  if ((args.listener === undefined) !== (args.peer === undefined)) {
    throw new UsageError("mesh-sidecar check-policy: --listener and --peer go together\nrun \"mesh-sidecar check-policy --help\" for usage");
  }
  if (args.exitCode && args.peer === undefined) {
    throw new UsageError("mesh-sidecar check-policy: --exit-code sets the exit code of a decision: give --listener and --peer with it\nrun \"mesh-sidecar check-policy --help\" for usage");
  }
  let trustDomain: TrustDomain | undefined;
  if (args.trustDomain !== undefined) {
    try {
      trustDomain = TrustDomain.parse(args.trustDomain);
    } catch (err) {
      if (!(err instanceof SpiffeIdError)) throw err;
      throw new UsageError(`mesh-sidecar check-policy: --trust-domain ${JSON.stringify(args.trustDomain)} is not a trust domain name: ${err.message}`);
    }
  }
  let peer: SpiffeId | undefined;
  if (args.peer !== undefined) {
    try {
      peer = SpiffeId.parse(args.peer);
    } catch (err) {
      if (!(err instanceof SpiffeIdError)) throw err;
      throw new UsageError(`mesh-sidecar check-policy: --peer ${JSON.stringify(args.peer)} is not a SPIFFE ID: ${err.message}`);
    }
  }
  let text: string;
  try {
    text = await readFile(args.policy, "utf8");
  } catch (err) {
    io.err(`${args.policy}: cannot read the policy file: ${(err as Error).message}`);
    return 1;
  }
  let input: PolicyInput;
  let policy;
  try {
    input = policyInput(text, args.policy, args.key);
    policy = loadPolicyInput(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const line of err.message.split("\n")) io.err(line);
    io.err(`${args.policy}: invalid (${err.issues.length} ${err.issues.length === 1 ? "error" : "errors"})`);
    return 1;
  }
  if (trustDomain) {
    for (const issue of foreignEntries(input.text, trustDomain)) io.err(formatWarning(args.policy, placeIssue(issue, input)));
  }
  if (args.listener !== undefined && peer !== undefined) {
    const decision = policy.decide(args.listener, peer);
    io.out(decision.decision === "audit_deny" ? `deny ${decision.rule} (audit: let through)` : `${decision.decision} ${decision.rule}`);
    if (!policy.hasListener(args.listener)) io.err(`note: listener "${args.listener}" is not in the policy, so it accepts no one`);
    return args.exitCode && decision.decision !== "allow" ? 1 : 0;
  }
  const listeners = policy.listeners;
  const entries = listeners.reduce((n, l) => n + policy.rulesOf(l).allow.length + policy.rulesOf(l).deny.length, 0);
  const origin = input.configMap ? ` (${input.configMap.name === undefined ? "ConfigMap" : `ConfigMap ${input.configMap.name}`}, key ${input.configMap.key})` : "";
  io.out(`${args.policy}${origin}: valid (${listeners.length} ${listeners.length === 1 ? "listener" : "listeners"}, ${entries} ${entries === 1 ? "entry" : "entries"})`);
  return 0;
}
