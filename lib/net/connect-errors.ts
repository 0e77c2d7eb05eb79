/**
 * Errors of a connect() that never reached the other end: refused,
 * unroutable, timed out, or a host name that did not resolve. A proxy tells
 * them apart from failures of a connection that was open (a reset, a TLS
 * alert), which say something about the peer rather than the path to it.
 */

const CONNECT_ERRORS: ReadonlySet<string> = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

/** True when `code` (a Node system error code) says a connect() never reached the other end. */
export function isConnectError(code: string | undefined): boolean {
  return code !== undefined && CONNECT_ERRORS.has(code);
}
