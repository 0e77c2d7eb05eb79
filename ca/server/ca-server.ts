/**
 * `mesh-ca serve` as a function: loads and validates the signing material
 * and attestors, then serves the HTTPS API and the plain-HTTP admin port.
 * Tests start it in process; the CLI adds signal handling.
 *
 * TLS: 1.3 only, elliptic-curve groups only (`tls.groups`, lib/tls/groups.ts:
 * a finite-field key share would cost 100 ms or more of CPU per ClientHello).
 * The server requests a client certificate but does not require one (token
 * callers have none); renewal callers present their SVID and it is judged
 * per request (attest/renewal-attestor.ts).
 *
 * The signing material is followed while serving (signing-reloader.ts): a
 * new bundle goes into the TLS context for new handshakes, a new signer
 * also gets a new serving certificate, issued before the switch.
 */
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { Registry } from "prom-client";
import { startAdminServer, type AdminServer, type Readiness } from "../../lib/admin/server.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { formatHostPort, type HostPort } from "../../lib/net/address.js";
import { AEAD_CIPHERS } from "../../lib/tls/ciphers.js";
import { ecdhCurveOf } from "../../lib/tls/groups.js";
import type { Attestor } from "../attest/attestor.js";
import { createAttestors } from "../attest/attestors.js";
import type { CaConfig } from "../config.js";
import { createCaMetrics, type CaMetrics } from "../metrics.js";
import type { SigningAuthority } from "../signing/authority.js";
import { routeApiRequest } from "./api-routes.js";
import { answerClientError } from "./client-errors.js";
import { RateLimiter } from "./rate-limit.js";
import { drain, listen, listenFailed } from "./server-lifecycle.js";
import { ServingCertificate, type ServingCredentials } from "./serving-cert.js";
import { SigningReloader } from "./signing-reloader.js";
import { caStatus } from "./status.js";

/** Injectable parts; all optional. */
export interface CaServerDeps {
  logger?: Logger;
  /** Metrics registry (a new one by default); or pass ready-made metrics. */
  registry?: Registry;
  metrics?: CaMetrics;
  /** Clock for issuance, token checks, rate limits, readiness and the serving certificate's renewal; default systemClock. */
  clock?: Clock;
  /**
   * Clock of the JWKS refetch cooldown and the TokenReview cache; default
   * `clock`. Tests move it alone to expire those without moving the times
   * written into certificates.
   */
  cacheClock?: Clock;
  /** Randomness for serial numbers. */
  random?: (n: number) => Uint8Array;
  /** Lifetime of the API's serving certificate (renewed half way); default 24h, never past the signing certificate. */
  servingCertLifetimeMs?: number;
  /** How the signing files are followed: fallback check interval (default 5 s), directory watch (default on). */
  signingReload?: { pollIntervalMs?: number; watchDirectory?: boolean };
}

/** A running mesh-ca. */
export interface CaServer {
  /** Where the HTTPS API listens (the real port when the config said 0). */
  readonly apiAddress: HostPort;
  readonly adminAddress: HostPort;
  /** `https://host:port` of the API. */
  readonly apiUrl: string;
  /** `http://host:port` of the admin port. */
  readonly adminUrl: string;
  /** The signing authority in force now (it changes when the signing files do). */
  readonly authority: SigningAuthority;
  readonly metrics: CaMetrics;
  /** Checks the signing files for a change now and handles it (the server also does this on its own). */
  checkSigningFiles(): Promise<void>;
  /** The API's current serving certificate chain (PEM). */
  servingCertificatePem(): string;
  /**
   * Graceful stop: readiness false, stop accepting, let in-flight requests
   * finish for up to graceMs (default config.shutdownGrace), then close
   * everything. Idempotent.
   */
  shutdown(graceMs?: number): Promise<void>;
}

const KEEP_ALIVE_MS = 5_000;
// How often Node checks limits.headersTimeout and requestTimeout (its default, 30 s, would let a stalled client hold a connection 30 s past them).
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
// Independent of svid.maxTtl: short workload lifetimes (tests use 10 s) should not churn the API's certificate.
const SERVING_CERT_LIFETIME_MS = 24 * 3600_000;

/** Starts mesh-ca; throws CaError (exit 1) when the signing material, attestors or addresses are unusable. */
export async function startCaServer(config: CaConfig, deps: CaServerDeps = {}): Promise<CaServer> {
  const logger = deps.logger ?? createLogger({ name: "mesh-ca", level: config.log.level });
  const clock = deps.clock ?? systemClock;
  const startedAt = new Date(clock.now());
  const metrics = deps.metrics ?? createCaMetrics(deps.registry);

  const signing = await SigningReloader.open({
    config,
    clock,
    metrics,
    logger,
    random: deps.random,
    pollIntervalMs: deps.signingReload?.pollIntervalMs,
    watchDirectory: deps.signingReload?.watchDirectory,
  });
  const attestors = await createAttestors(config.attestation, {
    trustDomain: config.trustDomain,
    logger,
    cacheClock: deps.cacheClock ?? clock,
    tlsGroups: config.tls.groups,
  });
  const api = await startApi(config, {
    signing,
    attestors,
    metrics,
    logger,
    clock,
    servingCertLifetimeMs: deps.servingCertLifetimeMs ?? SERVING_CERT_LIFETIME_MS,
  });

  let shuttingDown = false;
  const readiness = (): Readiness =>
    shuttingDown ? { ready: false, reason: "shutting down" } : credentialReadiness(clock.now(), signing.current.authority, api.serving);
  const apiUrl = `https://${formatHostPort(api.address)}`;
  const status = (): Promise<unknown> =>
    caStatus({ authority: () => signing.current.authority, serving: () => api.serving.current, readiness, metrics, apiUrl, startedAt });
  const admin = await startAdminServer({ listen: config.admin, registry: metrics.registry, readiness, status }).catch(async (err: unknown) => {
    await api.abort();
    throw listenFailed(config.admin, "admin", err);
  });
  signing.start();

  const adminUrl = `http://${formatHostPort(admin.address)}`;
  logServing(logger, config, signing.current.authority, attestors, { api: apiUrl, admin: adminUrl });

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      shuttingDown = true;
      signing.stop();
      await stopServing({ api, admin, logger }, graceMs);
    })();
    return stopping;
  };

  return {
    apiAddress: api.address,
    adminAddress: admin.address,
    apiUrl,
    adminUrl,
    get authority() {
      return signing.current.authority;
    },
    metrics,
    checkSigningFiles: () => signing.check(),
    servingCertificatePem: () => api.serving.current.certChainPem,
    shutdown,
  };
}

/** What the HTTPS API is started with. */
interface ApiParts {
  signing: SigningReloader;
  attestors: readonly Attestor[];
  metrics: CaMetrics;
  logger: Logger;
  clock: Clock;
  servingCertLifetimeMs: number;
}

/** The listening HTTPS API and its self-renewing serving certificate. */
interface RunningApi {
  readonly server: Server;
  readonly address: HostPort;
  readonly serving: ServingCertificate;
  /** Undoes a start that cannot be completed (the admin port failed): stops renewals, closes the server. */
  abort(): Promise<void>;
}

/**
 * Issues the serving certificate, starts the HTTPS API on config.listen,
 * keeps the certificate renewed, and follows reloads of the signing set.
 */
async function startApi(config: CaConfig, parts: ApiParts): Promise<RunningApi> {
  const { signing, logger } = parts;
  // The server needs the first certificate to exist; renewals need the server.
  const live: { server?: Server } = {};
  const serving = await ServingCertificate.create({
    authority: () => signing.current.authority,
    dnsNames: config.serverNames.dnsNames,
    ipAddresses: config.serverNames.ipAddresses,
    lifetimeMs: parts.servingCertLifetimeMs,
    backdateMs: config.svid.backdateMs,
    logger,
    clock: parts.clock,
    onRenewed: (credentials) => live.server?.setSecureContext(tlsOptions(credentials, signing.current.authority, config.tls)),
  });
  signing.onSwap(async (next, previous) => {
    // A new signer: the new serving certificate is ready before the switch, so no handshake meets a half-made one.
    const credentials = next.signerKey === previous.signerKey ? undefined : await serving.issueWith(next.authority);
    return () => {
      if (credentials) serving.adopt(credentials);
      else live.server?.setSecureContext(tlsOptions(serving.current, next.authority, config.tls));
    };
  });
  const handlerDeps = {
    signing,
    bundle: config.bundle,
    attestors: parts.attestors,
    svid: config.svid,
    maxBodyBytes: config.limits.maxBodyBytes,
    rateLimiter: new RateLimiter(config.limits.ratePerIdentity, config.limits.rateBurst),
    metrics: parts.metrics,
    logger,
    clock: parts.clock,
  };
  const server = createServer(
    { ...tlsOptions(serving.current, signing.current.authority, config.tls), requestCert: true, rejectUnauthorized: false, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    (req, res) => routeApiRequest(req, res, handlerDeps),
  );
  live.server = server;
  server.requestTimeout = config.limits.requestTimeoutMs;
  server.headersTimeout = config.limits.headersTimeoutMs;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.on("tlsClientError", (err) => logger.debug({ err: err.message }, "TLS handshake failed"));
  server.on("clientError", answerClientError({ metrics: parts.metrics, logger, limits: config.limits }));

  await listen(server, config.listen, "listen");
  serving.start();
  return {
    server,
    address: { host: config.listen.host, port: (server.address() as AddressInfo).port },
    serving,
    abort: async () => {
      serving.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every option of the API's TLS context (setSecureContext replaces them all): TLS 1.3, AEAD suites, elliptic-curve groups. */
function tlsOptions(credentials: ServingCredentials, authority: SigningAuthority, tls: CaConfig["tls"]): SecureContextOptions {
  return {
    key: credentials.keyPem,
    cert: credentials.certChainPem,
    ca: authority.bundle.pem,
    minVersion: "TLSv1.3",
    ciphers: AEAD_CIPHERS,
    ecdhCurve: ecdhCurveOf(tls.groups),
  };
}

/** Ready while the signing certificate and the API's serving certificate are both unexpired at `nowMs`. */
function credentialReadiness(nowMs: number, authority: SigningAuthority, serving: ServingCertificate): Readiness {
  if (nowMs >= authority.signingNotAfter.getTime()) return { ready: false, reason: "the signing certificate has expired" };
  if (nowMs >= serving.current.notAfter.getTime()) return { ready: false, reason: "the API serving certificate has expired" };
  return { ready: true };
}

/** The one startup line: where the CA listens and which attestation methods are on. */
function logServing(logger: Logger, config: CaConfig, authority: SigningAuthority, attestors: readonly Attestor[], urls: { api: string; admin: string }): void {
  logger.info(
    {
      ...urls,
      trustDomain: config.trustDomain.name,
      signingCertExpires: authority.signingNotAfter.toISOString(),
      ...Object.assign({}, ...attestors.map((a) => a.summary)),
    },
    "mesh-ca is serving",
  );
}

/** Stops renewing, drains the API for up to graceMs, then closes the admin port. */
async function stopServing({ api, admin, logger }: { api: RunningApi; admin: AdminServer; logger: Logger }, graceMs: number): Promise<void> {
  api.serving.stop();
  logger.info({ graceMs }, "shutting down: no new connections, finishing requests in flight");
  await drain(api.server, graceMs);
  await admin.close();
  logger.info("mesh-ca stopped");
}
