/**
 * What check-policy reads: a policy file as the sidecar reads it, or the
 * Kubernetes ConfigMap that holds one (deploy/kubernetes/examples/*\/policy.yaml:
 * the policy is the string under `data: policy.yaml: |`, which the pod
 * mounts as the file the sidecar's policyFile names). From a ConfigMap the
 * policy text is taken out and every line:col found in it is put back into
 * the ConfigMap file's coordinates, so an editor jumps to the right place.
 */
import { isMap, isScalar, LineCounter, parseDocument, Scalar, type Document, type YAMLMap } from "yaml";
import { ConfigError, type ConfigIssue } from "../../lib/config/errors.js";
import { UsageError } from "../../lib/cli/flags.js";
import { loadPolicy, type Policy } from "./policy.js";

/** The ConfigMap key the examples and docs keep the policy under (mounted as /etc/mesh-policy/policy.yaml). */
export const POLICY_KEY = "policy.yaml";

/** Where the policy text came from inside a ConfigMap. */
export interface ConfigMapOrigin {
  /** metadata.name, when the file has one. */
  readonly name: string | undefined;
  readonly key: string;
}

/** A policy's text and how to place a position in it in the file it came from. */
export interface PolicyInput {
  /** The file named on the command line. */
  readonly file: string;
  /** The policy YAML itself. */
  readonly text: string;
  /** Set when `text` was taken out of a ConfigMap. */
  readonly configMap: ConfigMapOrigin | undefined;
  /** Maps a 1-based line:col of `text` to `file`'s. */
  position(line: number, col: number): { line: number; col: number };
  /** False when positions can only be placed at the start of the value (it is not a `|` block). */
  readonly exactPositions: boolean;
}

/**
 * Reads `fileText` as a policy, or as a ConfigMap holding one under `key`
 * (default: policy.yaml, or the only key there is). Throws ConfigError when
 * the ConfigMap holds no usable policy string, UsageError when the key to
 * read must be named (several keys, none of them policy.yaml) or `key` is
 * given for a file that is not a ConfigMap.
 */
export function policyInput(fileText: string, file: string, key?: string): PolicyInput {
  const lines = new LineCounter();
  const doc = parseDocument(fileText, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  // A file that does not parse is reported by the policy loader itself, with the sidecar's messages.
  const root = doc.errors.length === 0 && isMap(doc.contents) ? doc.contents : undefined;
  if (!root || doc.get("kind") !== "ConfigMap") {
    if (key !== undefined) {
      throw new UsageError(`mesh-sidecar check-policy: --key ${key} reads a key of a Kubernetes ConfigMap, and ${file} is not one (no "kind: ConfigMap"); leave --key out`);
    }
    return { file, text: fileText, configMap: undefined, position: (line, col) => ({ line, col }), exactPositions: true };
  }
  return fromConfigMap(doc, root, lines, fileText, file, key);
}

/** Loads the policy of `input`; a ConfigError's positions are those of `input.file`. */
export function loadPolicyInput(input: PolicyInput): Policy {
  try {
    return loadPolicy(input.text, input.file);
  } catch (err) {
    if (!(err instanceof ConfigError) || input.configMap === undefined) throw err;
    throw new ConfigError(input.file, err.issues.map((issue) => placeIssue(issue, input)));
  }
}

/** An issue found in the policy text, placed in the file it came from. */
export function placeIssue(issue: ConfigIssue, input: PolicyInput): ConfigIssue {
  if (issue.line === undefined) return issue;
  const placed = input.position(issue.line, issue.col ?? 1);
  if (input.exactPositions || input.configMap === undefined) return { ...issue, ...placed };
  return { ...issue, ...placed, message: `${issue.message} (at line ${issue.line}, column ${issue.col ?? 1} of the ${input.configMap.key} value)` };
}

function fromConfigMap(doc: Document, root: YAMLMap, lines: LineCounter, fileText: string, file: string, key: string | undefined): PolicyInput {
  const rawName: unknown = doc.getIn(["metadata", "name"]);
  const name = typeof rawName === "string" ? rawName : undefined;
  const what = name === undefined ? "the ConfigMap" : `ConfigMap ${name}`;
  const at = (node: unknown): { line?: number; col?: number } => {
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    return range ? lines.linePos(range[0]) : {};
  };
  const data = root.get("data", true);
  if (!isMap(data)) {
    throw new ConfigError(file, [{ path: "data", message: `${what} has no data mapping: the policy goes under data as "${POLICY_KEY}: |" with the policy indented below it`, ...at(data ?? root) }]);
  }
  const keys = data.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : String(pair.key)));
  const chosen = chooseKey(keys, key, what, file);
  const value = data.get(chosen, true);
  const path = `data.${chosen}`;
  if (!isScalar(value) || typeof value.value !== "string") {
    throw new ConfigError(file, [
      {
        path,
        message: `expected the policy as a string, got ${isMap(value) ? "a mapping" : "something else"}: ConfigMap values are strings, so write "${chosen}: |" and the policy indented below it`,
        ...at(value),
      },
    ]);
  }
  if (value.value.trim() === "") throw new ConfigError(file, [{ path, message: "is empty: it must hold the policy (version: 1 and listeners)", ...at(value) }]);
  return { file, text: value.value, configMap: { name, key: chosen }, position: positionMapper(value, lines, fileText), exactPositions: value.type === Scalar.BLOCK_LITERAL };
}

/** The key to read: the one named, else policy.yaml, else the only key; otherwise the user has to say which. */
function chooseKey(keys: readonly string[], key: string | undefined, what: string, file: string): string {
  const listing = keys.length === 0 ? "it has none" : `its keys: ${keys.join(", ")}`;
  if (key !== undefined) {
    if (keys.includes(key)) return key;
    throw new UsageError(`mesh-sidecar check-policy: ${file}: ${what} has no key "${key}" under data (${listing}); name one of them with --key`);
  }
  if (keys.includes(POLICY_KEY)) return POLICY_KEY;
  if (keys.length === 1) return keys[0] as string;
  if (keys.length === 0) throw new ConfigError(file, [{ path: "data", message: `${what} has no keys: the policy goes under data as "${POLICY_KEY}: |"` }]);
  throw new UsageError(
    `mesh-sidecar check-policy: ${file}: ${what} has no key "${POLICY_KEY}" under data (${listing}): name the key that holds the policy ` +
      `(the file name in the sidecar's policyFile) with --key, e.g. --key ${keys[0] as string}`,
  );
}

/**
 * Maps positions in a scalar's value to the file. A `|` block keeps the
 * file's lines one for one, shifted by the block's indentation; each line is
 * checked against the file (it must end with the value's line), and any
 * other style (folded `>`, quoted strings) or a line that does not match is
 * placed at the start of the value, since its lines were rejoined.
 */
function positionMapper(node: Scalar, lines: LineCounter, fileText: string): PolicyInput["position"] {
  const start = lines.linePos((node.range as [number, number, number])[0]);
  if (node.type !== Scalar.BLOCK_LITERAL) return () => start;
  const fileLines = fileText.split(/\r?\n/);
  const valueLines = (node.value as string).split("\n");
  return (line, col) => {
    // The block's first line is the one below its `|` header.
    const fileLine = fileLines[start.line - 1 + line];
    const valueLine = valueLines[line - 1];
    if (fileLine === undefined || valueLine === undefined || !fileLine.endsWith(valueLine)) return start;
    return { line: start.line + line, col: col + fileLine.length - valueLine.length };
  };
}
