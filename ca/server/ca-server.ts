/**
 * `mesh-ca serve` as a function: loads and validates the signing material
 * and attestors, then serves the HTTPS API and the plain-HTTP admin port.
 * Tests start it in process; the CLI adds signal handling.
 *
 * TLS: 1.3 only. The server requests a client certificate but does not
 * require one (token callers have none); renewal callers present their SVID
 * and it is judged per request (attest/renewal.ts).
 */
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { startAdminServer, type AdminServer, type Readiness } from "../../lib/admin/server.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { formatHostPort, type HostPort } from "../../lib/net/address.js";
import { JoinTokenAttestor } from "../attest/join-token.js";
import { JwksUnavailableError } from "../attest/jwks.js";
import { KubernetesAttestor } from "../attest/kubernetes.js";
import type { CaConfig } from "../config.js";
import { ApiError, ApiErrorCode, CaError, CaErrorCode } from "../errors.js";
import { createCaMetrics, type CaMetrics } from "../metrics.js";
import { SigningAuthority } from "../signing/authority.js";
import { AuthorityError } from "../signing/errors.js";
import { sendError } from "./http.js";
import { RateLimiter } from "./rate-limit.js";
import { ServingCertificate, type ServingCredentials } from "./serving-cert.js";
import { handleSvidRequest, type SvidHandlerDeps } from "./svid-handler.js";

/** Injectable parts; all optional. */
export interface CaServerDeps {
  logger?: Logger;
  /** Metrics registry (a new one by default); or pass ready-made metrics. */
  registry?: Registry;
  metrics?: CaMetrics;
  /** Clock for issuance and token checks; default () => new Date(). */
  now?: () => Date;
  /** Milliseconds clock for cooldowns and caches (JWKS refetch, TokenReview cache); default: from `now`. */
  clock?: () => number;
  /** Randomness for serial numbers. */
  random?: (n: number) => Uint8Array;
  /** Lifetime of the API's serving certificate (renewed half way); default 24h, never past the signing certificate. */
  servingCertLifetimeMs?: number;
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
  readonly authority: SigningAuthority;
  readonly metrics: CaMetrics;
  readonly joinTokens: JoinTokenAttestor | undefined;
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
// Independent of svid.maxTtl: short workload lifetimes (tests use 10 s) should not churn the API's certificate.
const SERVING_CERT_LIFETIME_MS = 24 * 3600_000;

/** Starts mesh-ca; throws CaError (exit 1) when the signing material, attestors or addresses are unusable. */
export async function startCaServer(config: CaConfig, deps: CaServerDeps = {}): Promise<CaServer> {
  const logger = deps.logger ?? createLogger({ name: "mesh-ca", level: config.log.level });
  const now = deps.now ?? (() => new Date());
  const metrics = deps.metrics ?? createCaMetrics(deps.registry);

  const authority = await SigningAuthority.load(config.signing, {
    trustDomain: config.trustDomain,
    now: now(),
    ...(deps.random ? { random: deps.random } : {}),
  }).catch((err: unknown) => {
    if (err instanceof AuthorityError) throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, err.message, { cause: err });
    throw err;
  });
  metrics.signingCertExpiry.set(authority.signingNotAfter.getTime() / 1000);
  metrics.rootExpiry.set(authority.bundle.earliestExpiry().getTime() / 1000);

  const kubernetesConfig = config.attestation.kubernetes;
  const kubernetes = kubernetesConfig
    ? await KubernetesAttestor.create(kubernetesConfig, { trustDomain: config.trustDomain, logger, clock: deps.clock ?? (() => now().getTime()) }).catch((err: unknown) => {
        if (err instanceof JwksUnavailableError) throw new CaError(CaErrorCode.STARTUP_FAILED, err.message, { cause: err });
        throw err;
      })
    : undefined;
  const joinTokenConfig = config.attestation.joinTokens;
  const joinTokens = joinTokenConfig
    ? await JoinTokenAttestor.create({ storeFile: joinTokenConfig.storeFile, trustDomain: config.trustDomain, logger })
    : undefined;

  // The server needs the first certificate to exist; renewals need the server.
  const live: { api?: Server } = {};
  const serving = await ServingCertificate.create({
    authority,
    dnsNames: config.serverNames.dnsNames,
    ipAddresses: config.serverNames.ipAddresses,
    lifetimeMs: deps.servingCertLifetimeMs ?? SERVING_CERT_LIFETIME_MS,
    backdateMs: config.svid.backdateMs,
    logger,
    now,
    onRenewed: (credentials) => live.api?.setSecureContext(tlsOptions(credentials, authority)),
  });

  const handlerDeps: SvidHandlerDeps = {
    authority,
    kubernetes,
    joinTokens,
    svid: config.svid,
    maxBodyBytes: config.limits.maxBodyBytes,
    rateLimiter: new RateLimiter(config.limits.ratePerIdentity, config.limits.rateBurst),
    metrics,
    logger,
    now,
  };
  const api = createServer({ ...tlsOptions(serving.current, authority), requestCert: true, rejectUnauthorized: false }, (req, res) =>
    route(req, res, handlerDeps),
  );
  live.api = api;
  api.requestTimeout = config.limits.requestTimeoutMs;
  api.headersTimeout = config.limits.headersTimeoutMs;
  api.keepAliveTimeout = KEEP_ALIVE_MS;
  api.on("tlsClientError", (err) => logger.debug({ err: err.message }, "TLS handshake failed"));

  await listen(api, config.listen).catch((err: unknown) => {
    throw new CaError(CaErrorCode.STARTUP_FAILED, `cannot listen on ${formatHostPort(config.listen)} (listen): ${describeListenError(err)}`, { cause: err });
  });
  const apiAddress = { host: config.listen.host, port: (api.address() as AddressInfo).port };
  serving.start();

  let shuttingDown = false;
  const readiness = (): Readiness => {
    if (shuttingDown) return { ready: false, reason: "shutting down" };
    const t = now().getTime();
    if (t >= authority.signingNotAfter.getTime()) return { ready: false, reason: "the signing certificate has expired" };
    if (t >= serving.current.notAfter.getTime()) return { ready: false, reason: "the API serving certificate has expired" };
    return { ready: true };
  };
  let admin: AdminServer;
  try {
    admin = await startAdminServer({ listen: config.admin, registry: metrics.registry, readiness });
  } catch (err) {
    serving.stop();
    await new Promise<void>((resolve) => api.close(() => resolve()));
    throw new CaError(CaErrorCode.STARTUP_FAILED, `cannot listen on ${formatHostPort(config.admin)} (admin): ${describeListenError(err)}`, { cause: err });
  }

  const apiUrl = `https://${formatHostPort(apiAddress)}`;
  const adminUrl = `http://${formatHostPort(admin.address)}`;
  logger.info(
    {
      api: apiUrl,
      admin: adminUrl,
      trustDomain: config.trustDomain.name,
      signingCertExpires: authority.signingNotAfter.toISOString(),
      kubernetes: kubernetesConfig?.mode ?? "off",
      joinTokens: joinTokens ? joinTokens.useCounting : "off",
    },
    "mesh-ca is serving",
  );

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      shuttingDown = true;
      serving.stop();
      logger.info({ graceMs }, "shutting down: no new connections, finishing requests in flight");
      await drain(api, graceMs);
      await admin.close();
      logger.info("mesh-ca stopped");
    })();
    return stopping;
  };

  return {
    apiAddress,
    adminAddress: admin.address,
    apiUrl,
    adminUrl,
    authority,
    metrics,
    joinTokens,
    servingCertificatePem: () => serving.current.certChainPem,
    shutdown,
  };
}

function tlsOptions(credentials: ServingCredentials, authority: SigningAuthority): {
  key: string;
  cert: string;
  ca: string;
  minVersion: "TLSv1.3";
} {
  return { key: credentials.keyPem, cert: credentials.certChainPem, ca: authority.bundle.pem, minVersion: "TLSv1.3" };
}

function route(req: IncomingMessage, res: ServerResponse, deps: SvidHandlerDeps): void {
  const path = (req.url ?? "/").split("?")[0];
  const allow = (methods: string): boolean => {
    if (methods.split(", ").includes(req.method ?? "")) return true;
    sendError(res, new ApiError(ApiErrorCode.METHOD_NOT_ALLOWED, `use ${methods} for ${path}`, { headers: { allow: methods } }));
    return false;
  };
  switch (path) {
    case "/v1/svid":
      if (allow("POST")) void handleSvidRequest(req, res, deps);
      return;
    case "/v1/bundle":
      if (allow("GET, HEAD")) sendText(res, "application/x-pem-file", deps.authority.bundle.pem);
      return;
    case "/v1/bundle.json":
      if (allow("GET, HEAD")) sendText(res, "application/json", JSON.stringify(deps.authority.bundle.toSpiffeJson()));
      return;
    default:
      sendError(res, new ApiError(ApiErrorCode.NOT_FOUND, `no such endpoint ${String(path).slice(0, 100)}: the API has POST /v1/svid, GET /v1/bundle and GET /v1/bundle.json`));
  }
}

function sendText(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, { "content-type": type, "content-length": String(Buffer.byteLength(text)), "cache-control": "max-age=60" });
  res.end(text);
}

function listen(server: Server, address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function describeListenError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return "the address is already in use (another mesh-ca running?)";
  if (code === "EADDRNOTAVAIL") return "no interface has this address";
  if (code === "EACCES") return "permission denied (ports below 1024 need privileges)";
  return (err as Error).message;
}

/** Stops accepting, closes idle keep-alive connections as they become idle, and force-closes what is left after graceMs. */
async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
  });
  await Promise.race([closed, deadline]);
  clearInterval(idleSweep);
  clearTimeout(timer);
}
