/**
 * SPIFFE ID patterns as written in policy and outbound expectations:
 *   spiffe://example.org/ns/web/sa/frontend   exact
 *   spiffe://example.org/ns/ops/*             `*` = exactly one path segment
 *   spiffe://example.org/ns/batch/**          `**` (last segment only) = one or more segments
 * The trust domain is always matched exactly. `ns/batch/**` does not match
 * `ns/batch` itself: a wildcard never widens to its own prefix (fail closed).
 */
import { SpiffeIdError, SpiffeIdErrorCode } from "./errors.js";
import { SpiffeId, TrustDomain } from "./id.js";

const ONE = "*";
const MANY = "**";

/** A validated ID pattern. */
export class IdPattern {
  private constructor(
    readonly source: string,
    readonly trustDomain: TrustDomain,
    /** Literal segments, ONE or MANY. */
    readonly segments: readonly string[],
  ) {}

  /** Parses a pattern or throws SpiffeIdError (code SPIFFE_ID_PATTERN or an ID code). */
  static parse(source: string): IdPattern {
    if (!source.includes("*")) {
      const id = SpiffeId.parse(source);
      return new IdPattern(source, id.trustDomain, id.segments);
    }
    const prefix = "spiffe://";
    if (!source.startsWith(prefix)) SpiffeId.parse(source); // throws the scheme error
    const rest = source.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash === -1 || rest.slice(0, slash).includes("*")) {
      throw new SpiffeIdError(SpiffeIdErrorCode.PATTERN, "wildcards are allowed in the path only; the trust domain is always matched exactly");
    }
    const trustDomain = TrustDomain.parse(rest.slice(0, slash));
    const segments = rest.slice(slash + 1).split("/");
    const literals: string[] = [];
    segments.forEach((segment, i) => {
      if (segment === MANY && i !== segments.length - 1) {
        throw new SpiffeIdError(SpiffeIdErrorCode.PATTERN, `"**" is allowed only as the last path segment`);
      }
      if (segment !== ONE && segment !== MANY) {
        if (segment.includes("*")) {
          throw new SpiffeIdError(SpiffeIdErrorCode.PATTERN, `path segment "${segment}": a wildcard must be a whole segment, "*" or "**"`);
        }
        literals.push(segment);
      }
    });
    // Validate the literal segments with the ID rules.
    trustDomain.idFromSegments(...literals);
    return new IdPattern(source, trustDomain, segments);
  }

  get isExact(): boolean {
    return !this.segments.some((s) => s === ONE || s === MANY);
  }

  /** True when `id` matches this pattern. */
  matches(id: SpiffeId): boolean {
    if (!id.trustDomain.equals(this.trustDomain)) return false;
    const idSegments = id.segments;
    const last = this.segments.length - 1;
    for (let i = 0; i <= last; i++) {
      const p = this.segments[i];
      if (p === MANY) return idSegments.length > i;
      const s = idSegments[i];
      if (s === undefined) return false;
      if (p !== ONE && p !== s) return false;
    }
    return idSegments.length === this.segments.length;
  }

  toString(): string {
    return this.source;
  }
}

interface TrieNode<T> {
  literal: Map<string, TrieNode<T>>;
  one?: TrieNode<T>;
  /** Value of a pattern ending in `**` at this depth. */
  many?: T;
  /** Value of a pattern ending exactly here. */
  end?: T;
}

function newNode<T>(): TrieNode<T> {
  return { literal: new Map() };
}

/**
 * A compiled set of patterns. Exact entries are one hash lookup; wildcard
 * entries sit in a per-trust-domain segment trie, so matching costs grow with
 * the ID's depth, not with the number of entries. When several patterns match,
 * the most specific wins: literal segment over `*` over `**`.
 */
export class IdPatternSet<T> {
  private readonly exact = new Map<string, T>();
  private readonly tries = new Map<string, TrieNode<T>>();
  private count = 0;

  /** Adds a pattern; the first value added for an identical pattern is kept. */
  add(pattern: IdPattern, value: T): void {
    this.count++;
    if (pattern.isExact) {
      const key = pattern.toString();
      if (!this.exact.has(key)) this.exact.set(key, value);
      return;
    }
    let node = this.tries.get(pattern.trustDomain.name);
    if (!node) {
      node = newNode<T>();
      this.tries.set(pattern.trustDomain.name, node);
    }
    for (const segment of pattern.segments) {
      if (segment === MANY) {
        node.many ??= value;
        return;
      }
      if (segment === ONE) {
        node.one ??= newNode<T>();
        node = node.one;
      } else {
        let next = node.literal.get(segment);
        if (!next) {
          next = newNode<T>();
          node.literal.set(segment, next);
        }
        node = next;
      }
    }
    node.end ??= value;
  }

  get size(): number {
    return this.count;
  }

  /** The value of the most specific matching pattern, or undefined. */
  match(id: SpiffeId): T | undefined {
    const exact = this.exact.get(id.toString());
    if (exact !== undefined) return exact;
    const root = this.tries.get(id.trustDomain.name);
    if (!root) return undefined;
    return matchNode(root, id.segments, 0);
  }
}

function matchNode<T>(node: TrieNode<T>, segments: string[], i: number): T | undefined {
  if (i === segments.length) return node.end;
  const segment = segments[i] as string;
  const literal = node.literal.get(segment);
  if (literal) {
    const found = matchNode(literal, segments, i + 1);
    if (found !== undefined) return found;
  }
  if (node.one) {
    const found = matchNode(node.one, segments, i + 1);
    if (found !== undefined) return found;
  }
  return node.many;
}
