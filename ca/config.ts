/**
 * mesh-ca's config file (docs/configuration.md, `ca.yaml`): read in one
 * pass that reports every problem with its key path and line, then frozen.
 * Relative paths are resolved against the config file's directory.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, resolve } from "node:path";
import { ConfigSource, ValueError, describe, type Field } from "../lib/config/reader.js";
import { asDuration, asEnum, asHostPort, asInteger, asString, asTrustDomain, asUrl } from "../lib/config/values.js";
import { ConfigError } from "../lib/config/errors.js";
import type { HostPort } from "../lib/net/address.js";
import type { TrustDomain } from "../lib/spiffe/id.js";
import { DEFAULT_GROUPS, readTlsGroups, type TlsGroup } from "../lib/tls/groups.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Defaults with units; docs/configuration.md shows the same values. */
export const CA_DEFAULTS = {
  listen: "127.0.0.1:8443",
  admin: "127.0.0.1:9090",
  serverNames: ["localhost", "127.0.0.1"],
  defaultTtlMs: 1 * HOUR,
  maxTtlMs: 24 * HOUR, // also the hard upper bound
  backdateMs: 30 * SECOND,
  /** How often clients should fetch the trust bundle (`spiffe_refresh_hint`); a rotation waits twice this before activating. */
  refreshHintMs: 5 * MINUTE,
  issuer: "https://kubernetes.default.svc.cluster.local",
  audience: "mesh-ca",
  maxTokenLifetimeMs: 24 * HOUR,
  clockToleranceMs: 30 * SECOND,
  maxClockToleranceMs: 60 * SECOND,
  tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
  caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
  tokenReviewCacheTtlMs: 10 * SECOND,
  jwksRefetchCooldownMs: 30 * SECOND,
  maxBodyBytes: 65536,
  requestTimeoutMs: 10 * SECOND,
  headersTimeoutMs: 5 * SECOND,
  ratePerIdentity: 10, // per minute
  rateBurst: 20,
  shutdownGraceMs: 25 * SECOND,
  logLevel: "info",
} as const;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `attestation.kubernetes.tokenReview`. */
export interface TokenReviewConfig {
  apiServer: URL;
  tokenFile: string;
  caFile: string;
  cacheTtlMs: number;
}

/** `attestation.kubernetes.jwks`: exactly one of file and url. */
export interface JwksConfig {
  file?: string;
  url?: URL;
  caFile?: string;
  refetchCooldownMs: number;
}

/** `attestation.kubernetes`. */
export interface KubernetesAttestationConfig {
  mode: "tokenReview" | "jwks";
  issuer: string;
  audience: string;
  maxTokenLifetimeMs: number;
  clockToleranceMs: number;
  allowedNamespaces: readonly string[];
  deniedNamespaces: readonly string[];
  /** Present when mode is tokenReview. */
  tokenReview?: TokenReviewConfig;
  /** Present when mode is jwks. */
  jwks?: JwksConfig;
}

/** `svid`: lifetimes of issued SVIDs. */
export interface SvidTimings {
  defaultTtlMs: number;
  maxTtlMs: number;
  backdateMs: number;
}

/** `bundle`. */
export interface BundleSettings {
  /** Published as `spiffe_refresh_hint` (seconds) in /v1/bundle.json. */
  refreshHintMs: number;
}

/** What `mesh-ca rotate` reads from a config: the trust domain and the timings its safety rules depend on. */
export interface RotationSettings {
  file: string;
  trustDomain: TrustDomain;
  svid: SvidTimings;
  bundle: BundleSettings;
}

/** The validated, frozen mesh-ca config. */
export interface CaConfig {
  /** The file it was read from (for messages). */
  file: string;
  trustDomain: TrustDomain;
  listen: HostPort;
  admin: HostPort;
  /** DNS names and IP addresses of the API's serving certificate. */
  serverNames: { dnsNames: readonly string[]; ipAddresses: readonly string[] };
  signing: { certFile: string; keyFile: string; chainFile?: string; bundleFile: string };
  svid: SvidTimings;
  /** `bundle`: what the trust bundle endpoints tell clients. */
  bundle: BundleSettings;
  attestation: { kubernetes?: KubernetesAttestationConfig; joinTokens?: { storeFile: string } };
  limits: {
    maxBodyBytes: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    /** Sustained SVID requests per identity per minute. */
    ratePerIdentity: number;
    rateBurst: number;
  };
  /** TLS of the API and of the CA's own clients (TokenReview, JWKS URL); the protocol is fixed at TLS 1.3 for the API. */
  tls: { groups: readonly TlsGroup[] };
  shutdownGraceMs: number;
  log: { level: LogLevel };
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const asServerName = (v: unknown): string => {
  if (typeof v === "string" && (isIP(v) !== 0 || DNS_NAME.test(v))) return v;
  throw new ValueError(`expected a lowercase DNS name or an IP address, got ${describe(v)}`);
};

const asNamespace = (v: unknown): string => {
  if (typeof v === "string" && NAMESPACE.test(v)) return v;
  throw new ValueError(`expected a Kubernetes namespace name (lowercase letters, digits, "-"), got ${describe(v)}`);
};

/**
 * Parses and validates mesh-ca config text. `file` names it in messages and
 * anchors relative paths; `env` expands `${NAME}` (default process.env).
 * Throws ConfigError listing every problem.
 */
export function loadCaConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): CaConfig {
  const base = dirname(resolve(file));
  const path = (v: unknown): string => resolve(base, asString(v));
  return ConfigSource.fromYaml(text, file, { env }).read((root) => {
    const svid = readSvid(root);
    const serverNames = isPresent(root, "serverNames") ? root.values("serverNames", asServerName) : [...CA_DEFAULTS.serverNames];
    const config: Omit<CaConfig, "file"> = {
      trustDomain: root.required("trustDomain", asTrustDomain),
      listen: root.optional("listen", asHostPort({ allowZero: true }), mustParse(CA_DEFAULTS.listen)),
      admin: root.optional("admin", asHostPort({ allowZero: true }), mustParse(CA_DEFAULTS.admin)),
      serverNames: {
        dnsNames: serverNames.filter((n) => isIP(n) === 0),
        ipAddresses: serverNames.filter((n) => isIP(n) !== 0),
      },
      signing: root.object("signing", (f) => {
        const chainFile = f.maybe("chainFile", path);
        return {
          certFile: f.optional("certFile", path, resolve(base, "ca.crt")),
          keyFile: f.optional("keyFile", path, resolve(base, "ca.key")),
          ...(chainFile === undefined ? {} : { chainFile }),
          bundleFile: f.optional("bundleFile", path, resolve(base, "bundle.pem")),
        };
      }, () => ({ certFile: resolve(base, "ca.crt"), keyFile: resolve(base, "ca.key"), bundleFile: resolve(base, "bundle.pem") })),
      svid,
      bundle: readBundle(root),
      attestation: root.object("attestation", (f) => readAttestation(f, path, env), () => ({})),
      limits: root.object("limits", readLimits, () => ({
        maxBodyBytes: CA_DEFAULTS.maxBodyBytes,
        requestTimeoutMs: CA_DEFAULTS.requestTimeoutMs,
        headersTimeoutMs: CA_DEFAULTS.headersTimeoutMs,
        ratePerIdentity: CA_DEFAULTS.ratePerIdentity,
        rateBurst: CA_DEFAULTS.rateBurst,
      })),
      tls: root.object("tls", (f) => ({ groups: readTlsGroups(f) }), () => ({ groups: DEFAULT_GROUPS })),
      shutdownGraceMs: root.optional("shutdownGrace", asDuration({ max: 10 * MINUTE }), CA_DEFAULTS.shutdownGraceMs),
      log: root.object("log", (f) => ({ level: f.optional("level", asEnum(LOG_LEVELS), CA_DEFAULTS.logLevel) }), () => ({
        level: CA_DEFAULTS.logLevel,
      })),
    };
    if (!config.attestation.kubernetes && !config.attestation.joinTokens) {
      // Renewal alone cannot bootstrap anyone; say so rather than serve a CA nobody can use.
      root.report("enable at least one of attestation.kubernetes and attestation.joinTokens", "attestation");
    }
    return { file, ...config };
  });
}

/** Reads and parses a config file; throws ConfigError (also for an unreadable file). */
export async function readCaConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<CaConfig> {
  return loadCaConfig(await readConfigText(file), file, env);
}

/** The keys `rotate` reads; the rest of a config is left to `serve`. */
const ROTATION_KEYS = new Set(["trustDomain", "svid", "bundle"]);

/**
 * Reads only trustDomain, `svid` and `bundle` of a mesh-ca config, with the
 * same rules and defaults as `serve`. Every other key is left alone, and
 * `${NAME}` is not expanded, so the cluster's ca.yaml (which names in-pod
 * paths and variables) can be read on an operator's machine.
 */
export function loadRotationSettings(text: string, file: string): RotationSettings {
  return ConfigSource.fromYaml(text, file).read((root) => {
    const value = root.value;
    if (typeof value === "object" && value !== null) {
      for (const key of Object.keys(value)) if (!ROTATION_KEYS.has(key)) root.maybe(key, (v) => v);
    }
    const svid = readSvid(root);
    return { file, trustDomain: root.required("trustDomain", asTrustDomain), svid, bundle: readBundle(root) };
  });
}

/** Reads a config file for `rotate`; throws ConfigError (also for an unreadable file). */
export async function readRotationSettingsFile(file: string): Promise<RotationSettings> {
  return loadRotationSettings(await readConfigText(file), file);
}

async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
}

function readSvid(root: Field): SvidTimings {
  const svid = root.object(
    "svid",
    (f) => ({
      defaultTtlMs: f.optional("defaultTtl", asDuration({ min: 10 * SECOND, max: CA_DEFAULTS.maxTtlMs }), CA_DEFAULTS.defaultTtlMs),
      maxTtlMs: f.optional("maxTtl", asDuration({ min: 10 * SECOND, max: CA_DEFAULTS.maxTtlMs }), CA_DEFAULTS.maxTtlMs),
      backdateMs: f.optional("backdate", asDuration({ max: 5 * MINUTE }), CA_DEFAULTS.backdateMs),
    }),
    () => ({ defaultTtlMs: CA_DEFAULTS.defaultTtlMs, maxTtlMs: CA_DEFAULTS.maxTtlMs, backdateMs: CA_DEFAULTS.backdateMs }),
  );
  if (svid.defaultTtlMs > svid.maxTtlMs) root.report("defaultTtl must not be longer than maxTtl", "svid");
  return svid;
}

function readBundle(root: Field): BundleSettings {
  return root.object(
    "bundle",
    // Whole seconds: the hint is published in seconds.
    (f) => ({ refreshHintMs: f.optional("refreshHint", asWholeSeconds(asDuration({ min: SECOND, max: 24 * HOUR })), CA_DEFAULTS.refreshHintMs) }),
    () => ({ refreshHintMs: CA_DEFAULTS.refreshHintMs }),
  );
}

function asWholeSeconds(parse: (v: unknown) => number): (v: unknown) => number {
  return (v) => {
    const ms = parse(v);
    if (ms % SECOND !== 0) throw new ValueError(`must be a whole number of seconds, got ${describe(v)}`);
    return ms;
  };
}

function mustParse(hostPort: string): HostPort {
  return asHostPort()(hostPort);
}

function isPresent(f: Field, key: string): boolean {
  const value = f.value as Record<string, unknown> | undefined;
  return typeof value === "object" && value !== null && value[key] !== undefined && value[key] !== null;
}

/** A mapping that may be left out (or null): undefined then, else read with build. */
function optionalObject<T>(f: Field, key: string, build: (field: Field) => T): T | undefined {
  if (!isPresent(f, key)) {
    f.maybe(key, (v) => v); // marks the key as known
    return undefined;
  }
  return f.object(key, build);
}

function readLimits(f: Field): CaConfig["limits"] {
  const limits = {
    maxBodyBytes: f.optional("maxBodyBytes", asInteger({ min: 1024, max: 16 * 1024 * 1024 }), CA_DEFAULTS.maxBodyBytes),
    requestTimeoutMs: f.optional("requestTimeout", asDuration({ min: SECOND, max: 10 * MINUTE }), CA_DEFAULTS.requestTimeoutMs),
    headersTimeoutMs: f.optional("headersTimeout", asDuration({ min: SECOND, max: 10 * MINUTE }), CA_DEFAULTS.headersTimeoutMs),
    ratePerIdentity: f.optional("ratePerIdentity", asInteger({ min: 1, max: 100_000 }), CA_DEFAULTS.ratePerIdentity),
    rateBurst: f.optional("rateBurst", asInteger({ min: 1, max: 100_000 }), CA_DEFAULTS.rateBurst),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) f.report("must not be longer than requestTimeout", "headersTimeout");
  return limits;
}

function readAttestation(f: Field, path: (v: unknown) => string, env: NodeJS.ProcessEnv): CaConfig["attestation"] {
  const kubernetes = optionalObject(f, "kubernetes", (k) => readKubernetes(k, path, env));
  // docs/configuration.md: "storeFile ... omit to disable".
  const storeFile = optionalObject(f, "joinTokens", (j) => j.maybe("storeFile", path));
  const joinTokens = storeFile === undefined ? undefined : { storeFile };
  return { ...(kubernetes ? { kubernetes } : {}), ...(joinTokens ? { joinTokens } : {}) };
}

function readKubernetes(k: Field, path: (v: unknown) => string, env: NodeJS.ProcessEnv): KubernetesAttestationConfig {
  const mode = k.optional("mode", asEnum(["tokenReview", "jwks"] as const), "tokenReview");
  const base = {
    mode,
    issuer: k.optional("issuer", asString, CA_DEFAULTS.issuer),
    audience: k.optional("audience", asString, CA_DEFAULTS.audience),
    maxTokenLifetimeMs: k.optional("maxTokenLifetime", asDuration({ min: MINUTE, max: 365 * 24 * HOUR }), CA_DEFAULTS.maxTokenLifetimeMs),
    clockToleranceMs: k.optional("clockTolerance", asDuration({ max: CA_DEFAULTS.maxClockToleranceMs }), CA_DEFAULTS.clockToleranceMs),
    allowedNamespaces: k.values("allowedNamespaces", asNamespace),
    deniedNamespaces: k.values("deniedNamespaces", asNamespace),
  };
  let tokenReview = optionalObject(k, "tokenReview", (t) => readTokenReview(t, path, env, mode === "tokenReview"));
  if (!isPresent(k, "tokenReview") && mode === "tokenReview") tokenReview = defaultTokenReview(k, env);
  const jwks = optionalObject(k, "jwks", (j) => readJwks(j, path, mode === "jwks"));
  if (!isPresent(k, "jwks") && mode === "jwks") k.report("mode jwks needs jwks.file or jwks.url", "jwks");
  return {
    ...base,
    ...(mode === "tokenReview" && tokenReview ? { tokenReview } : {}),
    ...(mode === "jwks" && jwks ? { jwks } : {}),
  };
}

function apiServerFromEnv(env: NodeJS.ProcessEnv): URL | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  return new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`);
}

function defaultTokenReview(k: Field, env: NodeJS.ProcessEnv): TokenReviewConfig | undefined {
  const apiServer = apiServerFromEnv(env);
  if (!apiServer) {
    k.report("tokenReview.apiServer is required outside a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)", "tokenReview");
    return undefined;
  }
  return { apiServer, tokenFile: CA_DEFAULTS.tokenFile, caFile: CA_DEFAULTS.caFile, cacheTtlMs: CA_DEFAULTS.tokenReviewCacheTtlMs };
}

function readTokenReview(t: Field, path: (v: unknown) => string, env: NodeJS.ProcessEnv, used: boolean): TokenReviewConfig | undefined {
  const apiServer = t.maybe("apiServer", asUrl());
  const config = {
    tokenFile: t.optional("tokenFile", path, CA_DEFAULTS.tokenFile),
    caFile: t.optional("caFile", path, CA_DEFAULTS.caFile),
    cacheTtlMs: t.optional("cacheTtl", asDuration({ max: 5 * MINUTE }), CA_DEFAULTS.tokenReviewCacheTtlMs),
  };
  const server = apiServer ?? apiServerFromEnv(env);
  if (!server) {
    if (used) t.report("is required outside a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)", "apiServer");
    return undefined;
  }
  return { apiServer: server, ...config };
}

function readJwks(j: Field, path: (v: unknown) => string, used: boolean): JwksConfig | undefined {
  const file = j.maybe("file", path);
  const url = j.maybe("url", asUrl());
  const caFile = j.maybe("caFile", path);
  const refetchCooldownMs = j.optional("refetchCooldown", asDuration({ min: SECOND, max: HOUR }), CA_DEFAULTS.jwksRefetchCooldownMs);
  if (used && (file === undefined) === (url === undefined)) j.report("set exactly one of file and url");
  return {
    ...(file === undefined ? {} : { file }),
    ...(url === undefined ? {} : { url }),
    ...(caFile === undefined ? {} : { caFile }),
    refetchCooldownMs,
  };
}
