/** Value parsers for config keys; each throws ValueError naming what was expected. */
import { parseDuration } from "../duration.js";
import { parseHostPort, type HostPort } from "../net/address.js";
import { SpiffeIdError } from "../spiffe/errors.js";
import { SpiffeId, TrustDomain } from "../spiffe/id.js";
import { IdPattern } from "../spiffe/pattern.js";
import { describe, ValueError, type ValueParser } from "./reader.js";

/** A non-empty string. */
export const asString: ValueParser<string> = (v) => {
  if (typeof v !== "string" || v === "") throw new ValueError(`expected a non-empty string, got ${describe(v)}`);
  return v;
};

export const asBoolean: ValueParser<boolean> = (v) => {
  if (typeof v !== "boolean") throw new ValueError(`expected true or false, got ${describe(v)}`);
  return v;
};

/** An integer within [min, max]. */
export function asInteger({ min = 0, max = Number.MAX_SAFE_INTEGER } = {}): ValueParser<number> {
  return (v) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new ValueError(`expected an integer from ${min} to ${max}, got ${describe(v)}`);
    }
    return v;
  };
}

/** A Go-style duration ("30s", "1h") within [min, max] milliseconds; returns milliseconds. */
export function asDuration({ min = 0, max = Number.MAX_SAFE_INTEGER } = {}): ValueParser<number> {
  return (v) => {
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms === undefined) throw new ValueError(`expected a duration such as 500ms, 30s, 5m or 1h, got ${describe(v)}`);
    if (ms < min || ms > max) throw new ValueError(`must be between ${min} ms and ${max} ms, got ${describe(v)}`);
    return ms;
  };
}

/** One of a fixed set of strings. */
export function asEnum<T extends string>(choices: readonly T[]): ValueParser<T> {
  return (v) => {
    if (typeof v !== "string" || !choices.includes(v as T)) {
      throw new ValueError(`expected one of ${choices.join(", ")}, got ${describe(v)}`);
    }
    return v as T;
  };
}

/** `host:port`; port 0 only with allowZero. */
export function asHostPort({ allowZero = false } = {}): ValueParser<HostPort> {
  return (v) => {
    const parsed = typeof v === "string" ? parseHostPort(v, { allowZero }) : undefined;
    if (!parsed) throw new ValueError(`expected host:port, got ${describe(v)}`);
    return parsed;
  };
}

/** An https:// (or, with allowHttp, http://) URL. */
export function asUrl({ allowHttp = false } = {}): ValueParser<URL> {
  return (v) => {
    let url: URL | undefined;
    try {
      url = typeof v === "string" ? new URL(v) : undefined;
    } catch {
      url = undefined;
    }
    const ok = url && (url.protocol === "https:" || (allowHttp && url.protocol === "http:"));
    if (!url || !ok) throw new ValueError(`expected an ${allowHttp ? "http(s)" : "https"}:// URL, got ${describe(v)}`);
    return url;
  };
}

function spiffeValue<T>(what: string, parse: (s: string) => T): ValueParser<T> {
  return (v) => {
    if (typeof v !== "string") throw new ValueError(`expected ${what}, got ${describe(v)}`);
    try {
      return parse(v);
    } catch (err) {
      if (err instanceof SpiffeIdError) throw new ValueError(`${describe(v)} is not ${what}: ${err.message}`);
      throw err;
    }
  };
}

export const asTrustDomain = spiffeValue("a trust domain", (s) => TrustDomain.parse(s));
export const asSpiffeId = spiffeValue("a SPIFFE ID", (s) => SpiffeId.parse(s));
export const asIdPattern = spiffeValue("a SPIFFE ID pattern", (s) => IdPattern.parse(s));
