/**
 * SPIFFE IDs and trust domains (SPIFFE-ID spec §2), parsed strictly:
 * lowercase scheme and trust domain, no port/userinfo/query/fragment, no
 * percent-encoding, no empty or dot path segments. Code past the parsing edge
 * passes these types around, never raw strings.
 */
import { SpiffeIdError, SpiffeIdErrorCode } from "./errors.js";

const SCHEME_PREFIX = "spiffe://";
const MAX_TRUST_DOMAIN_BYTES = 255;
const MAX_ID_BYTES = 2048;

// Byte tables rather than regexes: every character of a 2 KiB ID is checked
// once and the error can name the exact rule.
const TD_CHAR = charTable("abcdefghijklmnopqrstuvwxyz0123456789.-_");
const PATH_CHAR = charTable("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

function isAllowed(table: Uint8Array, code: number): boolean {
  return code < 128 && table[code] === 1;
}

/** A SPIFFE trust domain name such as `example.org`. */
export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Parses a bare trust domain name (`example.org`) or throws SpiffeIdError. */
  static parse(name: string): TrustDomain {
    validateTrustDomain(name);
    return new TrustDomain(name);
  }

  /** The trust domain's own ID, `spiffe://<name>` (used by signing certificates). */
  get id(): SpiffeId {
    return SpiffeId.fromParts(this, "");
  }

  /** Builds `spiffe://<td>/<segments...>` after validating each segment. */
  idFromSegments(...segments: string[]): SpiffeId {
    // A "/" inside one segment would silently become two segments: a namespace
    // "a/sa/x" must never yield someone else's ID.
    for (const s of segments) {
      if (s.includes("/")) {
        throw new SpiffeIdError(SpiffeIdErrorCode.PATH, `path segment "${s}" cannot contain "/"`);
      }
    }
    const path = segments.map((s) => `/${s}`).join("");
    validatePath(path);
    return SpiffeId.fromParts(this, path);
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}

/** A parsed SPIFFE ID: `spiffe://<trust-domain><path>`, path possibly empty. */
export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** Either empty or `/seg(/seg)*`. */
    readonly path: string,
  ) {}

  /** Parses a SPIFFE ID or throws SpiffeIdError stating the broken rule. */
  static parse(id: string): SpiffeId {
    if (id.length === 0) throw new SpiffeIdError(SpiffeIdErrorCode.EMPTY, "SPIFFE ID cannot be empty");
    if (Buffer.byteLength(id, "utf8") > MAX_ID_BYTES) {
      throw new SpiffeIdError(SpiffeIdErrorCode.TOO_LONG, `SPIFFE ID is longer than ${MAX_ID_BYTES} bytes`);
    }
    if (!id.startsWith(SCHEME_PREFIX)) {
      throw new SpiffeIdError(SpiffeIdErrorCode.SCHEME, 'scheme is missing or invalid: a SPIFFE ID starts with lowercase "spiffe://"');
    }
    const rest = id.slice(SCHEME_PREFIX.length);
    const slash = rest.indexOf("/");
    const tdName = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? "" : rest.slice(slash);
    validateTrustDomain(tdName);
    validatePath(path);
    return new SpiffeId(TrustDomain.parse(tdName), path);
  }

  /** Like parse, but returns undefined instead of throwing. */
  static tryParse(id: string): SpiffeId | undefined {
    try {
      return SpiffeId.parse(id);
    } catch {
      return undefined;
    }
  }

  /** For IDs built from already-validated parts. */
  static fromParts(trustDomain: TrustDomain, path: string): SpiffeId {
    return new SpiffeId(trustDomain, path);
  }

  /** Kubernetes workload ID: `spiffe://<td>/ns/<namespace>/sa/<serviceAccount>`. */
  static forServiceAccount(trustDomain: TrustDomain, namespace: string, serviceAccount: string): SpiffeId {
    return trustDomain.idFromSegments("ns", namespace, "sa", serviceAccount);
  }

  /** Path segments without the leading slash; empty for a trust domain ID. */
  get segments(): string[] {
    return this.path === "" ? [] : this.path.slice(1).split("/");
  }

  /** True for `spiffe://td` with no path: valid as an ID, never as a leaf SVID's. */
  get isRoot(): boolean {
    return this.path === "";
  }

  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  equals(other: SpiffeId): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.path === other.path;
  }

  toString(): string {
    return `${SCHEME_PREFIX}${this.trustDomain.name}${this.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function validateTrustDomain(name: string): void {
  if (name.length === 0) {
    throw new SpiffeIdError(SpiffeIdErrorCode.TRUST_DOMAIN, "trust domain is missing");
  }
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (isAllowed(TD_CHAR, code)) continue;
    const c = name[i];
    if (c === ":") {
      throw new SpiffeIdError(SpiffeIdErrorCode.TRUST_DOMAIN, "trust domain cannot contain a port");
    }
    if (c === "@") {
      throw new SpiffeIdError(SpiffeIdErrorCode.TRUST_DOMAIN, "trust domain cannot contain userinfo");
    }
    if (c === "?" || c === "#") {
      throw new SpiffeIdError(SpiffeIdErrorCode.TRUST_DOMAIN, "SPIFFE ID cannot contain a query or fragment");
    }
    throw new SpiffeIdError(
      SpiffeIdErrorCode.TRUST_DOMAIN,
      "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores",
    );
  }
  if (Buffer.byteLength(name, "utf8") > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(SpiffeIdErrorCode.TRUST_DOMAIN, `trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  }
}

function validatePath(path: string): void {
  if (path === "") return;
  // path starts with "/" by construction
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path[i] !== "/") {
      const code = path.charCodeAt(i);
      if (isAllowed(PATH_CHAR, code)) continue;
      const c = path[i];
      if (c === "%") {
        throw new SpiffeIdError(SpiffeIdErrorCode.PATH, "path cannot contain percent-encoded characters");
      }
      if (c === "?" || c === "#") {
        throw new SpiffeIdError(SpiffeIdErrorCode.PATH, "SPIFFE ID cannot contain a query or fragment");
      }
      throw new SpiffeIdError(
        SpiffeIdErrorCode.PATH,
        "path segment characters are limited to letters, numbers, dots, dashes, and underscores",
      );
    }
    const segment = path.slice(segStart, i);
    if (segment === "") {
      throw new SpiffeIdError(
        SpiffeIdErrorCode.PATH,
        i === path.length ? "path cannot have a trailing slash" : "path cannot contain empty segments",
      );
    }
    if (segment === "." || segment === "..") {
      throw new SpiffeIdError(SpiffeIdErrorCode.PATH, `path segment "${segment}": dot segments are not allowed`);
    }
    segStart = i + 1;
  }
}
