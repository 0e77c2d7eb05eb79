/**
 * The one place the policy in force lives, beside the CredentialStore. A new
 * policy is built whole first (loaded and compiled: loadPolicy) and then made
 * live with one assignment; after it, subscribers hear of it (the reload
 * recheck, which closes inbound connections the new policy denies). Inbound
 * listeners read `current` on every connection, so a published policy
 * decides the next handshake at once.
 */
import { Policy } from "./policy.js";

type Subscriber = (policy: Policy) => void;

/** Holds the policy in force and tells subscribers when another is published. */
export class PolicyStore {
  private policy: Policy;
  private readonly subscribers: Subscriber[] = [];

  /**
   * Starts with `initial`; by default the empty policy, under which every
   * listener accepts no one (fail closed), so no connection is ever decided
   * without a policy.
   */
  constructor(initial: Policy = Policy.empty()) {
    this.policy = initial;
  }

  /** The policy in force. */
  get current(): Policy {
    return this.policy;
  }

  /** Makes a built policy the one in force, then tells every subscriber, in the order they subscribed. */
  publish(next: Policy): void {
    this.policy = next;
    for (const fn of [...this.subscribers]) fn(next);
  }

  /** Calls `fn` with every policy published from now on (not the one in force); returns an unsubscribe function. */
  subscribe(fn: Subscriber): () => void {
    this.subscribers.push(fn);
    return () => {
      const i = this.subscribers.indexOf(fn);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }
}
