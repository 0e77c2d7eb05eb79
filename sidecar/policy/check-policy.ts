/**
 * `mesh-sidecar check-policy --policy FILE [--listener NAME --peer ID]`:
 * validates a policy file the way the sidecar loads it, and explains one
 * decision. Output is one line per fact so scripts can read it.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../../lib/config/errors.js";
import { UsageError } from "../../lib/cli/flags.js";
import { SpiffeIdError } from "../../lib/spiffe/errors.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { loadPolicy } from "./policy.js";

/** Where check-policy writes; the CLI passes process streams, tests pass buffers. */
export interface CheckPolicyIo {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Runs check-policy and returns the exit code: 0 valid (and, with
 * listener/peer, the decision printed as `allow <entry>` or `deny <entry|default>`,
 * with ` (audit: let through)` after a deny of an audit-mode listener),
 * 1 invalid (every error listed as FILE:LINE:COL: path: message).
 * Throws UsageError for a bad --peer or a --listener without --peer.
 */
export async function checkPolicy(
  args: { policy: string; listener?: string | undefined; peer?: string | undefined },
  io: CheckPolicyIo,
): Promise<number> {
  if ((args.listener === undefined) !== (args.peer === undefined)) {
    throw new UsageError("mesh-sidecar check-policy: --listener and --peer go together\nrun \"mesh-sidecar check-policy --help\" for usage");
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
  let policy;
  try {
    policy = loadPolicy(text, args.policy);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const line of err.message.split("\n")) io.err(line);
    io.err(`${args.policy}: invalid (${err.issues.length} ${err.issues.length === 1 ? "error" : "errors"})`);
    return 1;
  }
  if (args.listener !== undefined && peer !== undefined) {
    const decision = policy.decide(args.listener, peer);
    io.out(decision.decision === "audit_deny" ? `deny ${decision.rule} (audit: let through)` : `${decision.decision} ${decision.rule}`);
    if (!policy.hasListener(args.listener)) io.err(`note: listener "${args.listener}" is not in the policy, so it accepts no one`);
    return 0;
  }
  const listeners = policy.listeners;
  const entries = listeners.reduce((n, l) => n + policy.rulesOf(l).allow.length + policy.rulesOf(l).deny.length, 0);
  io.out(`${args.policy}: valid (${listeners.length} ${listeners.length === 1 ? "listener" : "listeners"}, ${entries} ${entries === 1 ? "entry" : "entries"})`);
  return 0;
}
