/**
 * How a policy's listeners line up with the sidecar's: a name only one side
 * has is almost always a typo, so it is logged when a policy comes into
 * force (and printed by check-config); and each inbound listener's authz
 * series are set to 0 so alerts see them before the first decision.
 */
import type { Logger } from "../../lib/log.js";
import type { InboundListenerConfig } from "../config.js";
import type { SidecarMetrics } from "../metrics.js";
import type { Policy } from "./policy.js";

/** A listener that only the policy or only the config has. */
export interface PolicyFitProblem {
  readonly listener: string;
  readonly message: string;
}

/** The policy's listeners the config lacks, then the config's inbound listeners the policy lacks. */
export function policyFitProblems(policy: Policy, inbound: readonly InboundListenerConfig[]): PolicyFitProblem[] {
  const configured = new Set(inbound.map((l) => l.name));
  const problems: PolicyFitProblem[] = [];
  for (const name of policy.listeners) {
    if (!configured.has(name)) problems.push({ listener: name, message: "the policy names a listener this sidecar does not have; its entries are ignored" });
  }
  for (const name of configured) {
    if (!policy.hasListener(name)) problems.push({ listener: name, message: "inbound listener is not in the policy: it accepts no one" });
  }
  return problems;
}

/** Logs the policy's listeners the config lacks and the config's the policy lacks; zero-initialises the authz series. */
export function describePolicyFit(policy: Policy, inbound: readonly InboundListenerConfig[], metrics: SidecarMetrics, log: Logger): void {
  for (const p of policyFitProblems(policy, inbound)) log.warn({ listener: p.listener }, p.message);
  for (const l of inbound) metrics.initAuthz(l.name, policy.rulesOf(l.name));
}
