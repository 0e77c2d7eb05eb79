/**
 * The base of every error that carries a stable `code` (STYLE: callers switch
 * on the code, never on the message). Each program and lib module defines its
 * own code table (or, for an error with one code, the code itself) and a
 * subclass; an error's `name` is its class's name.
 */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The codes of a code table, as a union: `export type XErrorCode = CodeOf<typeof XErrorCode>`. */
export type CodeOf<Table> = Table[keyof Table];
