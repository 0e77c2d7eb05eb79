/**
 * Peer policy (docs/sidecar.md "Policy"): which SPIFFE IDs may
 * connect to each inbound listener. Loaded whole or refused whole, compiled
 * once per load into pattern sets whose matching cost does not grow with the
 * number of exact entries (lib/spiffe IdPatternSet).
 *
 * Fails closed: default deny; `deny` beats `allow`; a listener the policy does
 * not name accepts no one.
 */
import { ConfigSource, describe, type Field, ValueError, type ValueParser } from "../../lib/config/reader.js";
import { asIdPattern } from "../../lib/config/values.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { IdPatternSet, type IdPattern } from "../../lib/spiffe/pattern.js";

/** The outcome of one authorization and the policy entry that made it (`default` when none matched). */
export interface PolicyDecision {
  readonly decision: "allow" | "deny";
  /** The entry's pattern text as written in the file, or "default". Bounded: safe as a metric label. */
  readonly rule: string;
}

/** The rule label used when no entry matched. */
export const DEFAULT_RULE = "default";

const LISTENER_NAME = /^[a-z0-9_-]{1,63}$/;
const DEFAULT_DENY: PolicyDecision = Object.freeze({ decision: "deny", rule: DEFAULT_RULE });

/** One listener's entries as written. */
export interface ListenerRules {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

interface CompiledListener {
  readonly allow: IdPatternSet<PolicyDecision>;
  readonly deny: IdPatternSet<PolicyDecision>;
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
  static compile(listeners: ReadonlyMap<string, { allow: readonly IdPattern[]; deny: readonly IdPattern[] }>): Policy {
    const compiled = new Map<string, CompiledListener>();
    for (const [name, entry] of listeners) {
      const allow = new IdPatternSet<PolicyDecision>();
      const deny = new IdPatternSet<PolicyDecision>();
      for (const p of entry.allow) allow.add(p, Object.freeze({ decision: "allow", rule: p.source }));
      for (const p of entry.deny) deny.add(p, Object.freeze({ decision: "deny", rule: p.source }));
      const rules = Object.freeze({
        allow: Object.freeze(unique(entry.allow.map((p) => p.source))),
        deny: Object.freeze(unique(entry.deny.map((p) => p.source))),
      });
      compiled.set(name, { allow, deny, rules });
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

  /** The entries of one listener as written (empty when absent). */
  rulesOf(listener: string): ListenerRules {
    return this.byListener.get(listener)?.rules ?? { allow: [], deny: [] };
  }

  /**
   * Decides whether `peer` may connect to `listener`: a matching deny entry
   * wins, then a matching allow entry (most specific pattern reported), else
   * deny by default.
   */
  decide(listener: string, peer: SpiffeId | string): PolicyDecision {
    const compiled = this.byListener.get(listener);
    if (!compiled) return DEFAULT_DENY;
    const id = typeof peer === "string" ? SpiffeId.parse(peer) : peer;
    return compiled.deny.match(id) ?? compiled.allow.match(id) ?? DEFAULT_DENY;
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

function readListener(f: Field, name: string): { allow: IdPattern[]; deny: IdPattern[] } {
  if (!LISTENER_NAME.test(name)) {
    f.report(`listener name ${JSON.stringify(name)} must be 1 to 63 characters from [a-z0-9_-], as in the sidecar config`);
  }
  return { allow: f.values("allow", asIdPattern), deny: f.values("deny", asIdPattern) };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
