/**
 * How a policy's listeners line up with the sidecar's: a name only one side
 * has is almost always a typo, so it is logged when a policy comes into
 * force; and each inbound listener's authz series are set to 0 so alerts
 * see them before the first decision.
 */
import type { Logger } from "../../lib/log.js";
import type { InboundListenerConfig } from "../config.js";
import type { SidecarMetrics } from "../metrics.js";
import type { Policy } from "./policy.js";

/** Logs the policy's listeners the config lacks and the config's the policy lacks; zero-initialises the authz series. */
export function describePolicyFit(policy: Policy, inbound: readonly InboundListenerConfig[], metrics: SidecarMetrics, log: Logger): void {
  const configured = new Set(inbound.map((l) => l.name));
  for (const name of policy.listeners) {
    if (!configured.has(name)) log.warn({ listener: name }, "the policy names a listener this sidecar does not have; its entries are ignored");
  }
  for (const name of configured) {
    if (!policy.hasListener(name)) log.warn({ listener: name }, "inbound listener is not in the policy: it accepts no one");
    metrics.initAuthz(name, policy.rulesOf(name));
  }
}
