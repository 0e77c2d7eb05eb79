/**
 * The base of every error that carries a stable `code` (STYLE: callers switch
 * on the code, never on the message). Each program and lib module defines its
 * own code table and a subclass that only names itself.
 */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
