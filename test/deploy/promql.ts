/**
 * Just enough of a PromQL reader to list what an expression depends on: the
 * metric names it selects (with their label matchers) and the label names it
 * groups or matches by. Range and subquery brackets (`[5m]`,
 * `[$__rate_interval]`), string literals, numbers, durations, keywords,
 * function and aggregation names are all recognised and set aside, so what is
 * left as a bare identifier is a metric name.
 */

/** One `label op "value"` inside a selector's braces. */
export interface LabelMatcher {
  readonly label: string;
  readonly op: "=" | "!=" | "=~" | "!~";
  readonly value: string;
}

/** A metric selected by an expression. */
export interface MetricSelector {
  readonly name: string;
  readonly matchers: readonly LabelMatcher[];
}

/** What an expression depends on. */
export interface PromqlRefs {
  readonly selectors: readonly MetricSelector[];
  /** Labels named in by/without/on/ignoring/group_left/group_right lists. */
  readonly groupingLabels: readonly string[];
}

const AGGREGATIONS = new Set([
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
  "bottomk", "topk", "quantile", "limitk", "limit_ratio",
]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"]);

type Token = { kind: "ident" | "string" | "number" | "punct"; text: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|#[^\n]*|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(\$\{?\w+\}?)|((?:\d+(?:ms|[smhdwy]))+|0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(=~|!~|!=|==|<=|>=|[-+*/%^(){}[\],=<>@:])/y;
  let pos = 0;
  while (pos < expr.length) {
    pattern.lastIndex = pos;
    const m = pattern.exec(expr);
    if (!m) throw new Error(`cannot read PromQL at ${JSON.stringify(expr.slice(pos, pos + 20))} in: ${expr}`);
    pos = pattern.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: "string", text: unquote(m[1]) });
    else if (m[2] !== undefined) tokens.push({ kind: "ident", text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: "number", text: m[3] }); // a Grafana variable such as $__rate_interval
    else if (m[4] !== undefined) tokens.push({ kind: "number", text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: "punct", text: m[5] });
  }
  return tokens;
}

function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  return literal.startsWith("`") ? body : body.replace(/\\(.)/g, "$1");
}

/** Reads the metric selectors and grouping labels of one PromQL expression. */
export function readPromql(expr: string): PromqlRefs {
  const tokens = tokenize(expr);
  const selectors: MetricSelector[] = [];
  const groupingLabels: string[] = [];
  let i = 0;
  const peek = (offset = 0): Token | undefined => tokens[i + offset];
  const skipBalanced = (open: string, close: string): Token[] => {
    const inside: Token[] = [];
    let depth = 0;
    do {
      const t = tokens[i++];
      if (!t) throw new Error(`unbalanced ${open} in: ${expr}`);
      if (t.kind === "punct" && t.text === open) depth++;
      else if (t.kind === "punct" && t.text === close) depth--;
      else if (depth > 0) inside.push(t);
    } while (depth > 0);
    return inside;
  };
  const readMatchers = (): LabelMatcher[] => {
    const inside = skipBalanced("{", "}");
    const matchers: LabelMatcher[] = [];
    for (let k = 0; k < inside.length; ) {
      const [label, op, value] = [inside[k], inside[k + 1], inside[k + 2]];
      if (label?.kind !== "ident" || op?.kind !== "punct" || value?.kind !== "string" || !["=", "!=", "=~", "!~"].includes(op.text)) {
        throw new Error(`cannot read label matchers in: ${expr}`);
      }
      matchers.push({ label: label.text, op: op.text as LabelMatcher["op"], value: value.text });
      k += 3;
      if (inside[k]?.text === ",") k++;
    }
    return matchers;
  };

  while (i < tokens.length) {
    const t = tokens[i] as Token;
    if (t.kind === "punct" && t.text === "[") {
      skipBalanced("[", "]");
      continue;
    }
    if (t.kind === "punct" && t.text === "{") {
      throw new Error(`a selector without a metric name is not supported here: ${expr}`);
    }
    if (t.kind !== "ident") {
      i++;
      continue;
    }
    i++;
    const name = t.text;
    if (GROUPING.has(name)) {
      if (peek()?.text === "(") {
        for (const label of skipBalanced("(", ")")) if (label.kind === "ident") groupingLabels.push(label.text);
      }
      continue;
    }
    if (KEYWORDS.has(name) || AGGREGATIONS.has(name) || peek()?.text === "(") continue; // keyword, aggregation or function
    selectors.push({ name, matchers: peek()?.text === "{" ? readMatchers() : [] });
  }
  return { selectors, groupingLabels };
}

/** The metric of a Grafana `label_values(metric, label)` variable query, with the label. */
export function readLabelValuesQuery(query: string): { metric: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
  return m ? { metric: m[1] as string, label: m[2] as string } : undefined;
}
