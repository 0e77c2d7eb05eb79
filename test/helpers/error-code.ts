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
