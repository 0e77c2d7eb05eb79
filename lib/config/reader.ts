/**
 * Reads YAML config into typed, frozen objects, collecting every problem in
 * one pass (unknown keys, missing keys, bad values) with its key path and
 * line:column, then throwing one ConfigError that lists them all.
 *
 *   const src = ConfigSource.fromYaml(text, "sidecar.yaml", { env: process.env });
 *   const cfg = src.read((root) => ({ trustDomain: root.required("trustDomain", asTrustDomain) }));
 *
 * Values read from a field that had a problem are placeholders; `read` throws
 * before the caller can see them.
 */
import { isMap, isNode, LineCounter, parseDocument, visit, type Document, type YAMLError } from "yaml";
import { CodedError } from "../errors.js";
import { ConfigError, type ConfigIssue } from "./errors.js";

/** Converts a raw YAML value to T, or throws ValueError with what was expected. */
export type ValueParser<T> = (value: unknown) => T;

/** Thrown by a ValueParser; the reader catches it and reports it, with path and position, in a ConfigError. */
export class ValueError extends CodedError<"CONFIG_VALUE_INVALID"> {
  constructor(message: string) {
    super("CONFIG_VALUE_INVALID", message);
  }
}

type PathPart = string | number;

/** One config document and the issues found in it so far. */
export class ConfigSource {
  private readonly issues: ConfigIssue[] = [];

  private constructor(
    readonly file: string,
    private value: unknown,
    private readonly doc?: Document,
    private readonly lines?: LineCounter,
  ) {}

  /**
   * Parses YAML. Syntax errors (and duplicate keys) throw at once; `${NAME}`
   * and `${NAME:-default}` in string values are replaced from `env` when given.
   */
  static fromYaml(text: string, file: string, { env }: { env?: NodeJS.ProcessEnv } = {}): ConfigSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) throw new ConfigError(file, syntaxIssues(doc.errors, lines));
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias whose anchor is missing (or too many aliases) passes the parse and fails here.
      throw new ConfigError(file, [{ path: "", message: `YAML: ${(err as Error).message}`, ...firstAliasPosition(doc, lines) }]);
    }
    const source = new ConfigSource(file, value, doc, lines);
    if (env) source.expandEnv(env);
    return source;
  }

  /** Wraps an already-parsed value (e.g. JSON or a test object). */
  static fromValue(value: unknown, file: string): ConfigSource {
    return new ConfigSource(file, value);
  }

  /** Runs `build` on the root mapping and returns its frozen result, or throws ConfigError with every issue. */
  read<T>(build: (root: Field) => T): T {
    const root = new Field(this, [], this.value);
    const result = root.asObject(build);
    if (this.issues.length > 0) throw new ConfigError(this.file, this.issues);
    return deepFreeze(result);
  }

  /** Records a problem at a key path. */
  report(path: readonly PathPart[], message: string, { atKey = false } = {}): void {
    const pos = this.position(path, atKey);
    this.issues.push({ path: formatPath(path), message, ...pos });
  }

  private position(path: readonly PathPart[], atKey: boolean): { line?: number; col?: number } {
    if (!this.doc || !this.lines) return {};
    // Walk up until a node that exists: a missing key is reported at its parent.
    for (let depth = path.length; depth >= 0; depth--) {
      const prefix = path.slice(0, depth);
      if (atKey && depth === path.length && depth > 0) {
        const parent = this.doc.getIn(prefix.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === prefix[prefix.length - 1]);
          const range = pair && isNode(pair.key) ? pair.key.range : undefined;
          if (range) return this.lines.linePos(range[0]);
        }
        continue;
      }
      const node = depth === 0 ? this.doc.contents : this.doc.getIn(prefix, true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]);
    }
    return {};
  }

  private expandEnv(env: NodeJS.ProcessEnv): void {
    const walk = (value: unknown, path: PathPart[]): unknown => {
      if (typeof value === "string") return this.expandString(value, env, path);
      if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]));
      if (isPlainObject(value)) {
        for (const key of Object.keys(value)) value[key] = walk(value[key], [...path, key]);
      }
      return value;
    };
    this.value = walk(this.value, []);
  }

  private expandString(text: string, env: NodeJS.ProcessEnv, path: PathPart[]): string {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_all, name: string, fallback?: string) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      this.report(path, `environment variable ${name} is not set (set it, or write \${${name}:-default})`);
      return "";
    });
  }
}

/** A cursor at one key path of a config document. */
export class Field {
  private readonly seen = new Set<string>();

  constructor(
    private readonly source: ConfigSource,
    readonly path: readonly PathPart[],
    readonly value: unknown,
  ) {}

  /** A required key; reports "missing" when absent. */
  required<T>(key: string, parse: ValueParser<T>): T {
    const child = this.child(key);
    if (child.value === undefined || child.value === null) {
      this.source.report(child.path, "is required");
      return undefined as T;
    }
    return child.parse(parse);
  }

  /** An optional key with a default used when absent. */
  optional<T>(key: string, parse: ValueParser<T>, fallback: T): T {
    const child = this.child(key);
    if (child.value === undefined || child.value === null) return fallback;
    return child.parse(parse);
  }

  /** An optional key with no default. */
  maybe<T>(key: string, parse: ValueParser<T>): T | undefined {
    const child = this.child(key);
    if (child.value === undefined || child.value === null) return undefined;
    return child.parse(parse);
  }

  /** A nested mapping; unknown keys inside it are reported. Absent → `fallback` or "is required". */
  object<T>(key: string, build: (field: Field) => T, fallback?: () => T): T {
    const child = this.child(key);
    if (child.value === undefined || child.value === null) {
      if (fallback) return child.asObject(build, fallback());
      this.source.report(child.path, "is required");
      return undefined as T;
    }
    return child.asObject(build);
  }

  /** A sequence of mappings. Absent → empty unless `required`. */
  list<T>(key: string, build: (item: Field, index: number) => T, { required = false, nonEmpty = false } = {}): T[] {
    const items = this.sequence(key, required);
    if (nonEmpty && items?.length === 0) this.report("must not be empty", key);
    return (items ?? []).map((item, i) => item.asObject((f) => build(f, i)));
  }

  /** A sequence of scalars. */
  values<T>(key: string, parse: ValueParser<T>, { required = false } = {}): T[] {
    return (this.sequence(key, required) ?? []).map((item) => item.parse(parse));
  }

  /** The items of the sequence at `key`; undefined (reported when required or not a list) when there is none. */
  private sequence(key: string, required: boolean): Field[] | undefined {
    const child = this.child(key);
    if (child.value === undefined || child.value === null) {
      if (required) this.source.report(child.path, "is required");
      return undefined;
    }
    if (!Array.isArray(child.value)) {
      this.source.report(child.path, `expected a list, got ${describe(child.value)}`);
      return undefined;
    }
    return child.value.map((item, i) => new Field(this.source, [...child.path, i], item));
  }

  /** A mapping whose keys are names chosen by the user (e.g. listener names). */
  entries<T>(key: string, build: (item: Field, name: string) => T): Map<string, T> {
    const child = this.child(key);
    const out = new Map<string, T>();
    if (child.value === undefined || child.value === null) return out;
    if (!isPlainObject(child.value)) {
      this.source.report(child.path, `expected a mapping, got ${describe(child.value)}`);
      return out;
    }
    for (const [name, value] of Object.entries(child.value)) {
      out.set(name, new Field(this.source, [...child.path, name], value).asObject((f) => build(f, name)));
    }
    return out;
  }

  /** Reports a problem at this field (for checks across several keys). */
  report(message: string, key?: string): void {
    this.source.report(key === undefined ? this.path : [...this.path, key], message);
  }

  /** Runs build on this field as a mapping, then reports keys build did not read. */
  asObject<T>(build: (field: Field) => T, fallback?: T): T {
    if (this.value === undefined && fallback !== undefined) return fallback;
    if (!isPlainObject(this.value)) {
      this.source.report(this.path, `expected a mapping, got ${describe(this.value)}`);
      return undefined as T;
    }
    const result = build(this);
    const known = [...this.seen].sort();
    for (const key of Object.keys(this.value)) {
      if (!this.seen.has(key)) {
        this.source.report([...this.path, key], `unknown key (expected one of: ${known.join(", ")})`, { atKey: true });
      }
    }
    return result;
  }

  private child(key: string): Field {
    this.seen.add(key);
    const value = isPlainObject(this.value) ? this.value[key] : undefined;
    return new Field(this.source, [...this.path, key], value);
  }

  private parse<T>(parse: ValueParser<T>): T {
    try {
      return parse(this.value);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      this.source.report(this.path, err.message);
      return undefined as T;
    }
  }
}

/**
 * One issue per syntax mistake. The yaml package often reports one mistake
 * several times (a mis-indented `- item` gives "A block sequence may not be
 * used as an implicit map key", "Implicit keys need to be on a single line"
 * and "Implicit map keys need to be followed by map values", all on its
 * line): only the first error of each line is kept, since the later ones
 * follow from it and go away with it.
 */
function syntaxIssues(errors: readonly YAMLError[], lines: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seenLines = new Set<number>();
  for (const e of errors) {
    const pos = lines.linePos(e.pos[0]);
    if (seenLines.has(pos.line)) continue;
    seenLines.add(pos.line);
    issues.push({ path: "", message: `YAML syntax: ${e.message.split("\n")[0] ?? e.message}`, ...pos });
  }
  return issues;
}

/** Where the first alias (`*name`) whose anchor does not resolve is, or nothing when none is found. */
function firstAliasPosition(doc: Document, lines: LineCounter): { line?: number; col?: number } {
  let at: { line: number; col: number } | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (node.range && node.resolve(doc) === undefined) {
        at = lines.linePos(node.range[0]);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return at ?? {};
}

/** A short description of a bad value for messages: `got "8080"`, `got a list`. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PathPart[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    // Maps and class instances (SpiffeId, compiled matchers) are frozen shallowly by their owners.
    if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype) {
      Object.freeze(value);
      for (const v of Object.values(value)) deepFreeze(v);
    }
  }
  return value;
}
