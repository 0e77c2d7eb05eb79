import { CodedError } from "../errors.js";

/** One problem in a config or policy file, located by key path and, when known, line and column. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly col?: number;
}

/**
 * A config or policy file was refused. `issues` lists every problem found in
 * one pass, so a user fixes them all in one edit; `message` has one line each.
 */
export class ConfigError extends CodedError<"CONFIG_INVALID"> {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super("CONFIG_INVALID", issues.map((issue) => formatIssue(file, issue)).join("\n"));
  }
}

/** `file:line:col: path: message`, leaving out what is unknown. */
export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.col ?? 1}`;
  return issue.path === "" ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** `file:line:col: warning: path: message`: an issue that refuses nothing, in the format of an error. */
export function formatWarning(file: string, issue: ConfigIssue): string {
  return formatIssue(file, { ...issue, path: "", message: `warning: ${issue.path === "" ? "" : `${issue.path}: `}${issue.message}` });
}
