/**
 * The attestors of a running mesh-ca, built in one place from the config's
 * `attestation` block. A new attestation method is one file implementing
 * Attestor, one line here, its config block (ca/config.ts) and its metric
 * label (ISSUANCE_METHODS in ca/metrics.ts).
 *
 * Precedence: a request with an Authorization header is judged by its bearer
 * token (a join token by its prefix, any other token as a Kubernetes token),
 * even if it also sent a client certificate; only a request without one is
 * judged by its client certificate (renewal). The two bearer kinds do not
 * overlap, and a method the config leaves off still takes its tokens and
 * refuses them, so the order below only decides log and startup order.
 */
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/log.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import type { TlsGroup } from "../../lib/tls/groups.js";
import type { CaConfig } from "../config.js";
import type { AcceptedCredential, Attestor, PresentedCredential } from "./attestor.js";
import { createJoinTokenAttestor } from "./join-token-attestor.js";
import { createKubernetesAttestor } from "./kubernetes-attestor.js";
import { RenewalAttestor } from "./renewal-attestor.js";

/** What the attestors are built with. */
export interface AttestorDeps {
  trustDomain: TrustDomain;
  logger: Logger;
  /** Clock of caches and cooldowns (JWKS refetch, TokenReview cache). */
  cacheClock: Clock;
  /** Key-exchange groups of the CA's own TLS clients (TokenReview, JWKS URL): the config's `tls.groups`. */
  tlsGroups: readonly TlsGroup[];
}

/** Builds every attestation method of the config; throws CaError when one cannot start (e.g. an unreadable JWKS file). */
export async function createAttestors(attestation: CaConfig["attestation"], deps: AttestorDeps): Promise<readonly Attestor[]> {
  const kubernetes = await createKubernetesAttestor(attestation.kubernetes, {
    trustDomain: deps.trustDomain,
    logger: deps.logger,
    clock: deps.cacheClock,
    tlsGroups: deps.tlsGroups,
  });
  const joinTokens = await createJoinTokenAttestor(attestation.joinTokens, { trustDomain: deps.trustDomain, logger: deps.logger });
  return [kubernetes, joinTokens, new RenewalAttestor(deps.trustDomain)];
}

/** The attestor that takes `credential` with what it accepted, or undefined when none does. */
export function attestorFor(
  attestors: readonly Attestor[],
  credential: PresentedCredential,
): { attestor: Attestor; accepted: AcceptedCredential } | undefined {
  for (const attestor of attestors) {
    const accepted = attestor.accept(credential);
    if (accepted) return { attestor, accepted };
  }
  return undefined;
}
