/**
 * Peer policy (docs/sidecar.md "Policy"): which SPIFFE IDs may
 * connect to each inbound listener. Loaded whole or refused whole, compiled
 * once per load into pattern sets whose matching cost does not grow with the
 * number of exact entries (lib/spiffe IdPatternSet).
 *
 * Fails closed: default deny; `deny` beats `allow`; a listener the policy does
 * not name accepts no one.
 *
 * A listener in `mode: audit` decides the same way but lets a peer it would
 * deny through: its decision is `audit_deny` (with the entry that would have
 * denied), for rolling a policy out before enforcing it.
 */
import { ConfigSource, describe, type Field, ValueError, type ValueParser } from "../../lib/config/reader.js";
import { asEnum, asIdPattern } from "../../lib/config/values.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { IdPatternSet, type IdPattern } from "../../lib/spiffe/pattern.js";

/**
 * What a decision lets happen: `allow` and `deny` as they say; `audit_deny`:
 * the policy would deny the peer, but its listener is in audit mode, so the
 * peer is let through (and logged and counted as such).
 */
export type DecisionKind = "allow" | "deny" | "audit_deny";

/** The outcome of one authorization and the policy entry that made it (`default` when none matched). */
export interface PolicyDecision {
  readonly decision: DecisionKind;
  /** The entry's pattern text as written in the file, or "default". Bounded: safe as a metric label. */
  readonly rule: string;
}

/** How a listener applies its entries: `enforce` refuses denied peers; `audit` lets them through as `audit_deny`. */
export type PolicyMode = "enforce" | "audit";

/** The mode of a listener that does not say. */
export const DEFAULT_MODE: PolicyMode = "enforce";

/** The rule label used when no entry matched. */
export const DEFAULT_RULE = "default";

const LISTENER_NAME = /^[a-z0-9_-]{1,63}$/;
const DEFAULT_DENY: PolicyDecision = Object.freeze({ decision: "deny", rule: DEFAULT_RULE });
const AUDIT_DEFAULT_DENY: PolicyDecision = Object.freeze({ decision: "audit_deny", rule: DEFAULT_RULE });

/** One listener's entries as written, and its mode. */
export interface ListenerRules {
  readonly mode: PolicyMode;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** One listener's parsed entries, the input of Policy.compile. */
export interface ListenerEntries {
  /** Default `enforce`. */
  readonly mode?: PolicyMode;
  readonly allow: readonly IdPattern[];
  readonly deny: readonly IdPattern[];
}

interface CompiledListener {
  readonly allow: IdPatternSet<PolicyDecision>;
  readonly deny: IdPatternSet<PolicyDecision>;
  /** What no matching entry decides: deny, or audit_deny in audit mode. */
  readonly fallback: PolicyDecision;
  readonly rules: ListenerRules;
}

/** A compiled, immutable policy. Swap a whole new one in to change it. */
export class Policy {
  private constructor(private readonly byListener: ReadonlyMap<string, CompiledListener>) {}

  /** The policy that names no listener, so every listener accepts no one. */
  static empty(): Policy {
    return Policy.compile(new Map());
  }

  /** Compiles parsed entries; identical decisions share one frozen object, so deciding allocates nothing. */
  static compile(listeners: ReadonlyMap<string, ListenerEntries>): Policy {
    const compiled = new Map<string, CompiledListener>();
    for (const [name, entry] of listeners) {
      const mode = entry.mode ?? DEFAULT_MODE;
      const denied: DecisionKind = mode === "audit" ? "audit_deny" : "deny";
      const allow = new IdPatternSet<PolicyDecision>();
      const deny = new IdPatternSet<PolicyDecision>();
      for (const p of entry.allow) allow.add(p, Object.freeze({ decision: "allow", rule: p.source }));
      for (const p of entry.deny) deny.add(p, Object.freeze({ decision: denied, rule: p.source }));
      const rules = Object.freeze({
        mode,
        allow: Object.freeze(unique(entry.allow.map((p) => p.source))),
        deny: Object.freeze(unique(entry.deny.map((p) => p.source))),
      });
      compiled.set(name, { allow, deny, fallback: mode === "audit" ? AUDIT_DEFAULT_DENY : DEFAULT_DENY, rules });
    }
    return new Policy(compiled);
  }

  /** Listener names the policy mentions. */
  get listeners(): string[] {
    return [...this.byListener.keys()];
  }

  /** True when the policy has an entry for this listener (otherwise it accepts no one). */
  hasListener(listener: string): boolean {
    return this.byListener.has(listener);
  }

  /** The entries of one listener as written, and its mode (empty and `enforce` when absent). */
  rulesOf(listener: string): ListenerRules {
    return this.byListener.get(listener)?.rules ?? { mode: DEFAULT_MODE, allow: [], deny: [] };
  }

  /**
   * Decides whether `peer` may connect to `listener`: a matching deny entry
   * wins, then a matching allow entry (most specific pattern reported), else
   * deny by default. On an audit listener every deny is an `audit_deny`; a
   * listener the policy does not name is never in audit mode.
   */
  decide(listener: string, peer: SpiffeId | string): PolicyDecision {
    const compiled = this.byListener.get(listener);
    if (!compiled) return DEFAULT_DENY;
    const id = typeof peer === "string" ? SpiffeId.parse(peer) : peer;
    return compiled.deny.match(id) ?? compiled.allow.match(id) ?? compiled.fallback;
  }
}

const asPolicyVersion: ValueParser<1> = (v) => {
  if (v !== 1) throw new ValueError(`this sidecar understands policy version 1, got ${describe(v)}`);
  return 1;
};

/**
 * Parses, validates and compiles a policy file's text. Throws ConfigError
 * (code CONFIG_INVALID) listing every problem with its line and column, or a
 * ConfigError for YAML syntax errors; nothing of a bad file is ever used.
 */
export function loadPolicy(text: string, file: string): Policy {
  const parsed = ConfigSource.fromYaml(text, file).read((root) => {
    root.required("version", asPolicyVersion);
    const raw = root.value as Record<string, unknown> | undefined;
    if (raw && typeof raw === "object" && (raw.listeners === undefined || raw.listeners === null)) {
      root.report("is required (a mapping of inbound listener names to allow/deny lists)", "listeners");
    }
    return { listeners: root.entries("listeners", readListener) };
  });
  return Policy.compile(parsed.listeners);
}

function readListener(f: Field, name: string): ListenerEntries {
  if (!LISTENER_NAME.test(name)) {
    f.report(`listener name ${JSON.stringify(name)} must be 1 to 63 characters from [a-z0-9_-], as in the sidecar config`);
  }
  return {
    mode: f.optional("mode", asEnum<PolicyMode>(["enforce", "audit"]), DEFAULT_MODE),
    allow: f.values("allow", asIdPattern),
    deny: f.values("deny", asIdPattern),
  };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
