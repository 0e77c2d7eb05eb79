import { ConfigError } from "../../lib/config/errors.js";
import type { CodedError } from "../../lib/errors.js";

/**
 * The code of the `errorClass` error that `fn` throws, or "accepted" when it
 * returns. Any other error is rethrown, so a test never mistakes a crash (or
 * another module's refusal) for the verdict it expects.
 */
export function thrownCode(errorClass: abstract new (...args: never[]) => CodedError<string>, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof errorClass) return err.code;
    throw err;
  }
  return "accepted";
}

/**
 * The lines of the ConfigError that `fn` throws (one per problem, with
 * FILE:LINE:COL). Fails when `fn` returns; rethrows any other error.
 */
export function configErrorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("expected a ConfigError");
}
