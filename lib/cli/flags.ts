/**
 * Command-line flags for both programs. Unlike util.parseArgs in strict mode,
 * this reports every bad flag at once, each naming the flag and what to do.
 */
import { parseArgs } from "node:util";
import { CodedError } from "../errors.js";

export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly description: string;
  /** Shown in help; the default itself is applied by the command. */
  readonly placeholder?: string;
  readonly required?: boolean;
  /** A one-letter alias, e.g. "V" for `-V`. */
  readonly short?: string;
  /** Like --help, it answers by itself (e.g. --version): when given, required flags are not demanded. */
  readonly answersAlone?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export type ParsedFlags<S extends FlagSpecs> = {
  [K in keyof S]: S[K]["type"] extends "boolean" ? boolean : string | undefined;
} & { help: boolean };

/** Flags were wrong; the message has one line per problem and points at --help. */
export class UsageError extends CodedError<"USAGE"> {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** Parses argv against specs; throws UsageError listing every problem. */
export function parseFlags<S extends FlagSpecs>(command: string, argv: string[], specs: S): ParsedFlags<S> {
  const options = Object.fromEntries([
    ...Object.entries(specs).map(([name, spec]) => [name, spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short }]),
    ["help", { type: "boolean", short: "h" }],
  ]) as Record<string, { type: "string" | "boolean"; short?: string }>;
  const { values, positionals, tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const problems: string[] = [];
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const spec = token.name === "help" ? { type: "boolean" } : specs[token.name];
    if (!spec) {
      problems.push(`unknown flag ${token.rawName}`);
    } else if (spec.type === "string" && (token.value === undefined || token.value === "")) {
      problems.push(`flag ${token.rawName} needs a value`);
    } else if (spec.type === "boolean" && token.value !== undefined) {
      problems.push(`flag ${token.rawName} takes no value`);
    }
  }
  for (const p of positionals) problems.push(`unexpected argument "${p}"`);
  const help = values.help === true;
  const answered = help || Object.entries(specs).some(([name, spec]) => spec.answersAlone === true && values[name] === true);
  if (!answered) {
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.required && values[name] === undefined) problems.push(`flag --${name} is required`);
    }
  }
  if (problems.length > 0) {
    throw new UsageError(`${problems.map((p) => `${command}: ${p}`).join("\n")}\nrun "${command} --help" for usage`);
  }
  const out: Record<string, unknown> = { help };
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = spec.type === "boolean" ? values[name] === true : values[name];
  }
  return out as ParsedFlags<S>;
}

/** Renders help text for a command from its flag specs. */
export function formatHelp(command: string, summary: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const long = spec.type === "string" ? `--${name} ${spec.placeholder ?? "VALUE"}` : `--${name}`;
    const left = spec.short === undefined ? long : `${long}, -${spec.short}`;
    return `  ${left.padEnd(30)} ${spec.description}${spec.required ? " (required)" : ""}`;
  });
  return `Usage: ${command} [flags]\n\n${summary}\n\nFlags:\n${rows.join("\n")}\n  ${"--help, -h".padEnd(30)} show this help\n`;
}
