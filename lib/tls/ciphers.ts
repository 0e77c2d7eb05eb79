/**
 * Cipher suites of every TLS endpoint the project owns: AEAD only, and for
 * TLS 1.2 ECDHE only. No DHE suite (finite-field key exchange, see
 * groups.ts), no static RSA key exchange (no forward secrecy), no CBC
 * (Node's default list still carries CBC suites for TLS 1.2, which testssl
 * flags as LUCKY13). The TLS 1.3 suites are named because Node's `ciphers`
 * option replaces both lists at once.
 */

/** TLS 1.3 suites in order of preference. */
export const TLS13_CIPHERS = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;

/** TLS 1.2 suites: ECDHE key exchange, AEAD record protection. */
export const TLS12_ECDHE_AEAD_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
] as const;

/** The `ciphers` option of Node's TLS: TLS 1.3 suites first, then the TLS 1.2 ECDHE AEAD suites. */
export const AEAD_CIPHERS = [...TLS13_CIPHERS, ...TLS12_ECDHE_AEAD_CIPHERS].join(":");
