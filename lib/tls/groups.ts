/**
 * Key-exchange groups of every TLS endpoint the project owns (TLS 1.3 key
 * shares, TLS 1.2 ECDHE curves): one list both programs validate their
 * `tls.groups` against, and the `ecdhCurve` option built from it.
 *
 * Only elliptic-curve groups (and, where OpenSSL has it, the X25519+ML-KEM
 * hybrid) are allowed. Finite-field groups (ffdhe2048..ffdhe8192, RFC 7919)
 * are refused: OpenSSL 3.0 offers them by default, and one ClientHello naming
 * ffdhe8192 (no cryptography by the client) makes the server spend 120-150 ms
 * of CPU on its key share (D(HE)at, CVE-2002-20001). With only these groups
 * such a ClientHello is answered with a handshake_failure alert at once.
 */
import { createSecureContext } from "node:tls";
import { describe, ValueError, type Field, type ValueParser } from "../config/reader.js";

/** Elliptic-curve groups every supported OpenSSL (3.0 and newer) has. */
export const ELLIPTIC_CURVE_GROUPS = ["X25519", "P-256", "P-384"] as const;

/** Post-quantum hybrid groups: allowed only where the running OpenSSL has them (3.5 and newer, Node 24). */
export const HYBRID_GROUPS = ["X25519MLKEM768"] as const;

/** RFC 7919 finite-field groups: never allowed (see the module comment). */
export const FINITE_FIELD_GROUPS = ["ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"] as const;

/** A group `tls.groups` may name. */
export type TlsGroup = (typeof ELLIPTIC_CURVE_GROUPS)[number] | (typeof HYBRID_GROUPS)[number];

/** Every group a config may name, in the order messages list them. */
export const KNOWN_GROUPS: readonly TlsGroup[] = Object.freeze([...ELLIPTIC_CURVE_GROUPS, ...HYBRID_GROUPS]);

/**
 * The groups offered when the config names none. A later change may put the
 * hybrid first where `opensslSupportsGroup("X25519MLKEM768")` holds; every
 * endpoint reads this one constant.
 */
export const DEFAULT_GROUPS: readonly TlsGroup[] = Object.freeze(["X25519", "P-256"]);

/** What OpenSSL calls some groups that the config spells another way, for "did you mean". */
const ALIASES: Readonly<Record<string, TlsGroup>> = {
  x25519: "X25519",
  "p-256": "P-256",
  p256: "P-256",
  prime256v1: "P-256",
  secp256r1: "P-256",
  "p-384": "P-384",
  p384: "P-384",
  secp384r1: "P-384",
  x25519mlkem768: "X25519MLKEM768",
};

const probed = new Map<string, boolean>();

/** Whether the running OpenSSL accepts `group` as a TLS group; probed once per name by building a context. */
export function opensslSupportsGroup(group: string): boolean {
  let supported = probed.get(group);
  if (supported === undefined) {
    try {
      createSecureContext({ ecdhCurve: group });
      supported = true;
    } catch {
      supported = false;
    }
    probed.set(group, supported);
  }
  return supported;
}

/** The groups of `groups` that the running OpenSSL can use, in order (for a default that prefers a newer group). */
export function supportedGroups(groups: readonly TlsGroup[] = KNOWN_GROUPS): TlsGroup[] {
  return groups.filter((g) => opensslSupportsGroup(g));
}

/** The `ecdhCurve` value of Node's TLS options for `groups`: OpenSSL's colon-separated groups list. */
export function ecdhCurveOf(groups: readonly TlsGroup[]): string {
  return groups.join(":");
}

const allowedText = `${ELLIPTIC_CURVE_GROUPS.join(", ")} or ${HYBRID_GROUPS.join(", ")} (Node 24 / OpenSSL 3.5 or newer)`;

/**
 * A ValueParser for one entry of `tls.groups`. `supports` says whether the
 * running OpenSSL has a group (the probe by default; tests pass another).
 */
export function asTlsGroup(supports: (group: string) => boolean = opensslSupportsGroup): ValueParser<TlsGroup> {
  return (v) => {
    if (typeof v !== "string") throw new ValueError(`expected a key-exchange group name (${allowedText}), got ${describe(v)}`);
    if ((FINITE_FIELD_GROUPS as readonly string[]).includes(v.toLowerCase())) {
      throw new ValueError(
        `${v} is a finite-field group: refused, because one ClientHello naming it makes the server spend 100 ms or more of CPU (D(HE)at, CVE-2002-20001); use ${allowedText}`,
      );
    }
    if (!(KNOWN_GROUPS as readonly string[]).includes(v)) {
      const alias = ALIASES[v.toLowerCase()];
      const hint = alias === undefined ? "" : ` (did you mean ${alias}?)`;
      throw new ValueError(`unknown key-exchange group ${describe(v)}${hint}; expected ${allowedText}`);
    }
    if (!supports(v)) {
      throw new ValueError(
        `${v} needs Node 24 / OpenSSL 3.5 or newer; this is Node ${process.versions.node} with OpenSSL ${process.versions.openssl}: remove it, or keep to ${ELLIPTIC_CURVE_GROUPS.join(", ")}`,
      );
    }
    return v as TlsGroup;
  };
}

/**
 * Reads `key` (a YAML list of group names) of a `tls:` mapping: each entry
 * validated where it stands, the list non-empty and without repeats.
 * Absent → DEFAULT_GROUPS.
 */
export function readTlsGroups(f: Field, key = "groups", supports: (group: string) => boolean = opensslSupportsGroup): readonly TlsGroup[] {
  const value = (f.value as Record<string, unknown> | undefined)?.[key];
  if (value === undefined || value === null) {
    f.maybe(key, (v) => v); // marks the key as known
    return DEFAULT_GROUPS;
  }
  const groups = f.values(key, asTlsGroup(supports));
  if (Array.isArray(value) && value.length === 0) f.report(`must name at least one group, e.g. [${DEFAULT_GROUPS.join(", ")}]`, key);
  const seen = new Set<string>();
  for (const g of groups) {
    if (g === undefined) continue;
    if (seen.has(g)) f.report(`${g} is listed twice`, key);
    seen.add(g);
  }
  return groups;
}
