import { describe, expect, it } from "vitest";
import { isConnectError } from "./connect-errors.js";

describe("isConnectError", () => {
  it("is true for a connect() that never reached the other end", () => {
    for (const code of ["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]) {
      expect(isConnectError(code), code).toBe(true);
    }
  });

  it("is false for failures of an open connection and for errors without a code", () => {
    for (const code of ["ECONNRESET", "EPIPE", "ERR_SSL_WRONG_VERSION_NUMBER", "ERR_TLS_HANDSHAKE_TIMEOUT", "", undefined]) {
      expect(isConnectError(code), String(code)).toBe(false);
    }
  });
});
