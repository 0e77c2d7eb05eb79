/**
 * Join tokens for workloads outside Kubernetes, after good practice for API
 * keys (GitHub's `ghp_`, Stripe's `sk_live_`): a recognisable prefix so
 * secret scanners and people can tell what leaked, 256 bits from the CSPRNG,
 * shown once, stored only as a SHA-256 hash. A fast hash is right here: the
 * input has 256 bits of entropy, so there is nothing to brute-force.
 */
import { createHash, randomBytes } from "node:crypto";
import { secretHash } from "../../lib/log.js";

/** Every join token starts with this. */
export const JOIN_TOKEN_PREFIX = "meshjt_";

const JOIN_TOKEN = /^meshjt_[A-Za-z0-9_-]{43}$/;

/** A freshly made token: the secret (print once) and what the store keeps. */
export interface NewJoinToken {
  token: string;
  id: string;
  hash: string;
}

/** Makes a token from 32 random bytes (injectable for tests). */
export function generateJoinToken(random: (n: number) => Uint8Array = randomBytes): NewJoinToken {
  const token = `${JOIN_TOKEN_PREFIX}${Buffer.from(random(32)).toString("base64url")}`;
  return { token, id: joinTokenId(token), hash: joinTokenHash(token) };
}

/** True for a string shaped like a join token (prefix, 43 base64url characters). */
export function isJoinTokenFormat(token: string): boolean {
  return JOIN_TOKEN.test(token);
}

/** SHA-256 of the token, hex: the only form the store keeps. */
export function joinTokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The token's public id for `token list` and `token revoke`: the first 12
 * hex digits of its SHA-256, the same fingerprint the CA logs (secretHash),
 * so a log line can be matched to a store entry.
 */
export function joinTokenId(token: string): string {
  return secretHash(token);
}
