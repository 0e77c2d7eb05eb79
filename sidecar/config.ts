/**
 * The mesh-sidecar config file (docs/configuration.md, docs/sidecar.md):
 * read once at start, every problem reported at once with its key path and
 * line:col, the result frozen. Relative paths are resolved against the
 * config file's directory; `${NAME}` comes from the environment.
 */
import { dirname, resolve } from "node:path";
import type { HostPort } from "../lib/net/address.js";
import { ConfigSource, describe, type Field, ValueError, type ValueParser } from "../lib/config/reader.js";
import { asBoolean, asDuration, asEnum, asHostPort, asIdPattern, asInteger, asSpiffeId, asString, asTrustDomain, asUrl } from "../lib/config/values.js";
import type { SpiffeId, TrustDomain } from "../lib/spiffe/id.js";
import type { IdPattern } from "../lib/spiffe/pattern.js";
import { DEFAULT_GROUPS, readTlsGroups, type TlsGroup } from "../lib/tls/groups.js";

/** TLS versions the sidecar accepts as a minimum. */
export type TlsMinVersion = "TLSv1.2" | "TLSv1.3";
/** pino levels. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** The `ca:` section: how the sidecar, as mesh-ca's client, reaches and authenticates to it. */
export interface CaClientConfig {
  readonly url: URL;
  /** Absolute path of the bootstrap roots (PEM). */
  readonly bundleFile: string;
  /** Absolute path of the projected service-account token; re-read on every request. */
  readonly tokenFile?: string;
  /** A join token (meshjt_...). Exactly one of tokenFile and joinToken is set. */
  readonly joinToken?: string;
  /** When set, an SVID for any other ID is refused. */
  readonly expectedId?: SpiffeId;
  /** Requested SVID lifetime in ms; the CA's default when absent. */
  readonly ttlMs?: number;
  readonly bundleRefreshMs: number;
}

/** mTLS in, plaintext to the app. */
export interface InboundListenerConfig {
  readonly name: string;
  readonly listen: HostPort;
  readonly forward: HostPort;
  /** `v2`: the app gets a PROXY protocol v2 header (peer address, TLS facts, SPIFFE ID) before the peer's bytes. Absent: off. */
  readonly proxyProtocol?: ProxyProtocolVersion;
}

/** PROXY protocol versions an inbound listener can send the app. */
export type ProxyProtocolVersion = "v2";

/** Plaintext from the app, mTLS to an upstream sidecar. */
export interface OutboundListenerConfig {
  readonly name: string;
  readonly listen: HostPort;
  readonly upstream: HostPort;
  readonly expectedPeer: IdPattern;
}

/** Connection limits; durations in ms. */
export interface LimitsConfig {
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly drainGraceMs: number;
}

/** TLS settings shared by every listener. */
export interface TlsConfig {
  readonly minVersion: TlsMinVersion;
  /**
   * Inbound listeners send a session ticket and outbound listeners offer the
   * last one back, so repeat connections between sidecars skip the
   * certificate exchange; every resumed peer is still judged (SVID rules,
   * expiry, policy or expectedPeer) like a new one.
   */
  readonly sessionResumption: boolean;
  /**
   * Key-exchange groups offered and accepted by every listener and by the
   * client to mesh-ca (lib/tls/groups.ts): elliptic curves only.
   */
  readonly groups: readonly TlsGroup[];
}

/** Renewal timing (lib/spiffe renewAt and backoff). */
export interface RenewalConfig {
  readonly fraction: number;
  readonly jitter: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
}

/** The validated, frozen sidecar configuration. */
export interface SidecarConfig {
  /** The config file as given (for messages). */
  readonly file: string;
  readonly trustDomain: TrustDomain;
  readonly ca: CaClientConfig;
  readonly inbound: readonly InboundListenerConfig[];
  readonly outbound: readonly OutboundListenerConfig[];
  /** Absolute path; set whenever there is an inbound listener. */
  readonly policyFile?: string;
  readonly admin: HostPort;
  readonly limits: LimitsConfig;
  readonly tls: TlsConfig;
  readonly renewal: RenewalConfig;
  readonly log: { readonly level: LogLevel };
  /** Things that are allowed but probably unintended; logged at start. */
  readonly warnings: readonly string[];
}

/** Defaults, with units. */
export const SIDECAR_DEFAULTS = {
  admin: "127.0.0.1:15020",
  bundleRefreshMs: 5 * 60_000, // 5m
  handshakeTimeoutMs: 10_000, // 10s
  idleTimeoutMs: 3_600_000, // 1h
  maxConnections: 10_000, // per listener
  drainGraceMs: 25_000, // 25s, under Kubernetes' 30s terminationGracePeriodSeconds
  minVersion: "TLSv1.3" as TlsMinVersion,
  sessionResumption: true,
  groups: DEFAULT_GROUPS,
  fraction: 0.5,
  jitter: 0.1,
  backoffBaseMs: 1_000,
  backoffCapMs: 30_000,
  logLevel: "info" as LogLevel,
} as const;

const LISTENER_NAME = /^[a-z0-9_-]{1,63}$/;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

const asListenerName: ValueParser<string> = (v) => {
  if (typeof v !== "string" || !LISTENER_NAME.test(v)) {
    throw new ValueError(`expected a listener name of 1 to 63 characters from [a-z0-9_-], got ${describe(v)}`);
  }
  return v;
};

function asNumberIn(min: number, max: number, { minInclusive = true, maxInclusive = true } = {}): ValueParser<number> {
  return (v) => {
    const ok = typeof v === "number" && Number.isFinite(v) && (minInclusive ? v >= min : v > min) && (maxInclusive ? v <= max : v < max);
    if (!ok) {
      const range = `${minInclusive ? "[" : "("}${min}, ${max}${maxInclusive ? "]" : ")"}`;
      throw new ValueError(`expected a number in ${range}, got ${describe(v)}`);
    }
    return v as number;
  };
}

/** An outbound listen address: `host:port`, or a bare port that binds loopback only (127.0.0.1). */
const asLocalListen: ValueParser<HostPort> = (v) => {
  if (typeof v === "number" || (typeof v === "string" && /^\d{1,5}$/.test(v))) {
    const port = Number(v);
    if (Number.isInteger(port) && port >= 0 && port <= 65535) return { host: "127.0.0.1", port };
  }
  try {
    return asHostPort({ allowZero: true })(v);
  } catch {
    throw new ValueError(`expected host:port, or a port alone for 127.0.0.1, got ${describe(v)}`);
  }
};

/** A secret string: never echoed in messages; an empty value (e.g. an unset `${VAR:-}`) counts as absent. */
/** `proxyProtocol`: only `v2` (the binary version, which carries the TLS facts and the SPIFFE ID). */
const asProxyProtocol: ValueParser<ProxyProtocolVersion> = (v) => {
  if (v !== "v2") {
    throw new ValueError(`the sidecar sends PROXY protocol v2 only (the version that carries the peer's SPIFFE ID): write "v2" or remove the key, got ${describe(v)}`);
  }
  return v;
};

const asSecret: ValueParser<string | undefined> = (v) => {
  if (v === "") return undefined;
  if (typeof v !== "string") throw new ValueError("expected a string");
  return v;
};

/**
 * Parses and validates a sidecar config file's text. `file` locates errors
 * and anchors relative paths; `env` fills `${NAME}` (default process.env).
 * Throws ConfigError (code CONFIG_INVALID) listing every problem.
 */
export function loadSidecarConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const base = dirname(resolve(file));
  const path = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  const warnings: string[] = [];
  return ConfigSource.fromYaml(text, file, { env }).read((root): SidecarConfig => {
    const trustDomain = root.required("trustDomain", asTrustDomain);
    const ca = root.object("ca", (f) => readCa(f, path));
    const names = new Map<string, string>();
    const inbound = root.list("inbound", (item, i): InboundListenerConfig => {
      const proxyProtocol = item.maybe("proxyProtocol", asProxyProtocol);
      return {
        name: uniqueName(item, names, `inbound[${i}]`),
        listen: item.required("listen", asHostPort({ allowZero: true })),
        forward: item.required("forward", asHostPort()),
        ...(proxyProtocol === undefined ? {} : { proxyProtocol }),
      };
    });
    const outbound = root.list("outbound", (item, i) => ({
      name: uniqueName(item, names, `outbound[${i}]`),
      listen: item.required("listen", asLocalListen),
      upstream: item.required("upstream", asHostPort()),
      expectedPeer: item.required("expectedPeer", asIdPattern),
    }));
    const policyFile = path(root.maybe("policyFile", asString));
    if (inbound.length > 0 && policyFile === undefined) {
      root.report("is required when there is an inbound listener (the policy says who may connect)", "policyFile");
    }
    outbound.forEach((o, i) => {
      if (o?.listen && !LOOPBACK.test(o.listen.host)) {
        warnings.push(`outbound[${i}] (${o.name}) listens on ${o.listen.host}, not loopback: anyone who can reach it uses this pod's identity`);
      }
    });
    if (inbound.length === 0 && outbound.length === 0) warnings.push("no inbound or outbound listener is configured");
    return {
      file,
      trustDomain,
      ca,
      inbound,
      outbound,
      ...(policyFile === undefined ? {} : { policyFile }),
      admin: root.optional("admin", asHostPort({ allowZero: true }), hostPort(SIDECAR_DEFAULTS.admin)),
      limits: root.object("limits", readLimits, () => readLimits(undefined)),
      tls: root.object(
        "tls",
        (f) => ({
          minVersion: f.optional("minVersion", asEnum<TlsMinVersion>(["TLSv1.2", "TLSv1.3"]), SIDECAR_DEFAULTS.minVersion),
          sessionResumption: f.optional("sessionResumption", asBoolean, SIDECAR_DEFAULTS.sessionResumption),
          groups: readTlsGroups(f),
        }),
        () => ({ minVersion: SIDECAR_DEFAULTS.minVersion, sessionResumption: SIDECAR_DEFAULTS.sessionResumption, groups: SIDECAR_DEFAULTS.groups }),
      ),
      renewal: root.object("renewal", readRenewal, () => readRenewal(undefined)),
      log: root.object(
        "log",
        (f) => ({ level: f.optional("level", asEnum<LogLevel>(["trace", "debug", "info", "warn", "error"]), SIDECAR_DEFAULTS.logLevel) }),
        () => ({ level: SIDECAR_DEFAULTS.logLevel }),
      ),
      warnings,
    };
  });
}

function readCa(f: Field, path: (p: string | undefined) => string | undefined): CaClientConfig {
  const url = f.required("url", asUrl());
  const bundleFile = path(f.required("bundleFile", asString)) as string;
  const tokenFile = path(f.maybe("tokenFile", asString));
  const joinToken = f.maybe("joinToken", asSecret);
  if ((tokenFile === undefined) === (joinToken === undefined)) {
    f.report("set exactly one of ca.tokenFile (Kubernetes projected token) and ca.joinToken", tokenFile === undefined ? "tokenFile" : "joinToken");
  }
  const expectedId = f.maybe("expectedId", asSpiffeId);
  const ttlMs = f.maybe("ttl", asDuration({ min: 1_000, max: 24 * 3_600_000 }));
  return {
    url,
    bundleFile,
    ...(tokenFile === undefined ? {} : { tokenFile }),
    ...(joinToken === undefined ? {} : { joinToken }),
    ...(expectedId === undefined ? {} : { expectedId }),
    ...(ttlMs === undefined ? {} : { ttlMs }),
    bundleRefreshMs: f.optional("bundleRefresh", asDuration({ min: 1_000 }), SIDECAR_DEFAULTS.bundleRefreshMs),
  };
}

function readLimits(f: Field | undefined): LimitsConfig {
  if (!f) {
    return {
      handshakeTimeoutMs: SIDECAR_DEFAULTS.handshakeTimeoutMs,
      idleTimeoutMs: SIDECAR_DEFAULTS.idleTimeoutMs,
      maxConnections: SIDECAR_DEFAULTS.maxConnections,
      drainGraceMs: SIDECAR_DEFAULTS.drainGraceMs,
    };
  }
  return {
    handshakeTimeoutMs: f.optional("handshakeTimeout", asDuration({ min: 100, max: 120_000 }), SIDECAR_DEFAULTS.handshakeTimeoutMs),
    idleTimeoutMs: f.optional("idleTimeout", asDuration({ min: 1_000 }), SIDECAR_DEFAULTS.idleTimeoutMs),
    maxConnections: f.optional("maxConnections", asInteger({ min: 1, max: 1_000_000 }), SIDECAR_DEFAULTS.maxConnections),
    drainGraceMs: f.optional("drainGrace", asDuration({ max: 3_600_000 }), SIDECAR_DEFAULTS.drainGraceMs),
  };
}

function readRenewal(f: Field | undefined): RenewalConfig {
  if (!f) {
    return {
      fraction: SIDECAR_DEFAULTS.fraction,
      jitter: SIDECAR_DEFAULTS.jitter,
      backoffBaseMs: SIDECAR_DEFAULTS.backoffBaseMs,
      backoffCapMs: SIDECAR_DEFAULTS.backoffCapMs,
    };
  }
  const out = {
    fraction: f.optional("fraction", asNumberIn(0, 1, { minInclusive: false, maxInclusive: false }), SIDECAR_DEFAULTS.fraction),
    jitter: f.optional("jitter", asNumberIn(0, 0.5, { maxInclusive: false }), SIDECAR_DEFAULTS.jitter),
    backoffBaseMs: f.optional("backoffBase", asDuration({ min: 10 }), SIDECAR_DEFAULTS.backoffBaseMs),
    backoffCapMs: f.optional("backoffCap", asDuration({ min: 10 }), SIDECAR_DEFAULTS.backoffCapMs),
  };
  if (out.backoffBaseMs !== undefined && out.backoffCapMs !== undefined && out.backoffCapMs < out.backoffBaseMs) {
    f.report("must not be less than renewal.backoffBase", "backoffCap");
  }
  return out;
}

/** Reads a listener's name; names are unique across inbound and outbound (they label metrics and logs). */
function uniqueName(item: Field, seen: Map<string, string>, where: string): string {
  const name = item.required("name", asListenerName);
  if (name === undefined) return name;
  const first = seen.get(name);
  if (first) item.report(`listener name "${name}" is already used by ${first}; names must be unique`, "name");
  else seen.set(name, where);
  return name;
}

function hostPort(text: string): HostPort {
  const [host, port] = text.split(":") as [string, string];
  return { host, port: Number(port) };
}
