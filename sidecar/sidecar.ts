/**
 * mesh-sidecar assembled: credentials and their renewal, inbound and
 * outbound listeners, the policy and its hot reload, the admin server, and
 * the drain that SIGTERM starts. `startSidecar` is what the CLI runs and what
 * tests start in-process.
 */
import { readFile } from "node:fs/promises";
import { Registry } from "prom-client";
import { startAdminServer, type AdminServer, type Readiness } from "../lib/admin/server.js";
import { ConfigError } from "../lib/config/errors.js";
import { formatHostPort, type HostPort } from "../lib/net/address.js";
import { createLogger, type Logger } from "../lib/log.js";
import { TrustBundle } from "../lib/spiffe/bundle.js";
import { BundleError } from "../lib/spiffe/errors.js";
import { CaClient } from "./credentials/ca-client.js";
import { systemClock, type Clock } from "../lib/clock.js";
import type { SidecarConfig } from "./config.js";
import { CredentialStore } from "./credentials/credential-store.js";
import { SidecarError, SidecarErrorCode } from "./errors.js";
import { InboundListener } from "./listeners/inbound.js";
import { SidecarMetrics } from "./metrics.js";
import { OutboundListener } from "./listeners/outbound.js";
import { PeerVerifier } from "./listeners/peer-verifier.js";
import type { Policy } from "./policy/policy.js";
import { PolicyWatcher } from "./policy/policy-watcher.js";
import { Renewer } from "./credentials/renewer.js";
import { WorkloadKey } from "./credentials/workload-key.js";

/** Optional collaborators; everything has a production default. */
export interface SidecarOptions {
  readonly log?: Logger;
  /** Defaults to a new Registry (never prom-client's global one). */
  readonly registry?: Registry;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Fallback interval of the policy file check; default 5 s. */
  readonly policyPollIntervalMs?: number;
}

/** A running sidecar. */
export interface Sidecar {
  readonly config: SidecarConfig;
  readonly registry: Registry;
  readonly adminAddress: HostPort;
  /** Bound address of a listener by name (useful with port 0). */
  address(listener: string): HostPort;
  readiness(): Readiness;
  /** Checks the policy file now instead of waiting for the watch or the poll. */
  reloadPolicy(): Promise<void>;
  /** SIGTERM behaviour: not ready at once, stop accepting, wait up to `graceMs` for open connections, close the rest. */
  drain(graceMs?: number): Promise<{ forced: number }>;
  /** Stops everything at once, destroying open connections. */
  close(): Promise<void>;
}

const DRAIN_CHECK_MS = 50;

/** Starts a sidecar from a validated config; resolves once every listener and the admin server listen. */
export async function startSidecar(config: SidecarConfig, options: SidecarOptions = {}): Promise<Sidecar> {
  const log = options.log ?? createLogger({ name: "mesh-sidecar", level: config.log.level });
  const registry = options.registry ?? new Registry();
  const clock = options.clock ?? systemClock;
  const metrics = new SidecarMetrics(registry);
  for (const w of config.warnings) log.warn(w);

  const bootstrap = await readBootstrapBundle(config);
  let policy: Policy | undefined;
  let watcher: PolicyWatcher | undefined;
  if (config.policyFile) {
    watcher = new PolicyWatcher({
      file: config.policyFile,
      metrics,
      log,
      ...(options.policyPollIntervalMs === undefined ? {} : { pollIntervalMs: options.policyPollIntervalMs }),
      onReload: (next) => {
        policy = next;
        describePolicyFit(next, config, metrics, log);
        for (const l of inbound) {
          const closed = l.recheck(next);
          if (closed > 0) log.info({ listener: l.name, closed }, "closed connections the reloaded policy denies");
        }
      },
    });
    policy = await watcher.loadInitial().catch((err: unknown) => {
      if (err instanceof ConfigError) throw err;
      throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `cannot read policyFile ${config.policyFile}: ${(err as Error).message}`);
    });
    describePolicyFit(policy, config, metrics, log);
  }

  const key = await WorkloadKey.generate();
  const store = new CredentialStore(bootstrap, config.tls, (active, bundle) => {
    if (active) metrics.svidExpiry.set(active.svid.notAfter.getTime() / 1000);
    metrics.bundleExpiry.set(bundle.earliestExpiry().getTime() / 1000);
  });
  metrics.bundleExpiry.set(bootstrap.earliestExpiry().getTime() / 1000);
  metrics.svidExpiry.set(0);

  const now = (): number => clock.now();
  const inboundVerifier = new PeerVerifier({ trustDomain: config.trustDomain, usage: "client", now });
  const outboundVerifier = new PeerVerifier({ trustDomain: config.trustDomain, usage: "server", now });
  const inbound = config.inbound.map(
    (c) =>
      new InboundListener({ config: c, limits: config.limits, store, verifier: inboundVerifier, policy: () => policy as Policy, metrics, log }),
  );
  const outbound = config.outbound.map(
    (c) =>
      new OutboundListener({
        config: c,
        limits: config.limits,
        minVersion: config.tls.minVersion,
        store,
        verifier: outboundVerifier,
        metrics,
        log,
        sessionResumption: config.tls.sessionResumption,
        now,
      }),
  );
  const listeners = [...inbound, ...outbound];
  const addresses = new Map<string, HostPort>();
  let admin: AdminServer | undefined;
  let draining = false;

  const client = new CaClient({ url: config.ca.url, trustedRoots: () => store.bundle.pem });
  const renewer = new Renewer({
    config,
    client,
    store,
    key,
    metrics,
    log,
    clock,
    ...(options.random ? { random: options.random } : {}),
  });

  const readiness = (): Readiness => {
    if (draining) return { ready: false, reason: "draining (shutting down)" };
    const active = store.current;
    if (!active) return { ready: false, reason: "no SVID yet: mesh-ca has not issued one (see the log for why)" };
    if (active.svid.notAfter.getTime() <= clock.now()) {
      return { ready: false, reason: `SVID expired at ${active.svid.notAfter.toISOString()} and could not be renewed (see the log)` };
    }
    return { ready: true };
  };

  try {
    for (const l of listeners) {
      const addr = await l.listen().catch((err: Error) => {
        throw new SidecarError(SidecarErrorCode.LISTEN_FAILED, `listener ${l.name} cannot listen on ${formatHostPort(configuredAddress(config, l.name))}: ${err.message}`);
      });
      addresses.set(l.name, addr);
    }
    admin = await startAdminServer({ listen: config.admin, registry, readiness }).catch((err: Error) => {
      throw new SidecarError(SidecarErrorCode.LISTEN_FAILED, `admin server cannot listen on ${formatHostPort(config.admin)}: ${err.message}`);
    });
  } catch (err) {
    for (const l of listeners) l.stopAccepting();
    throw err;
  }
  const adminServer = admin;

  renewer.start();
  watcher?.start();
  log.info(
    {
      trustDomain: config.trustDomain.name,
      ca: config.ca.url.origin,
      admin: formatHostPort(adminServer.address),
      inbound: inbound.map((l) => `${l.name}=${formatHostPort(l.address)}`),
      outbound: outbound.map((l) => `${l.name}=${formatHostPort(l.address)}`),
    },
    "mesh-sidecar started; requesting an SVID",
  );

  let closed = false;
  const stopBackground = (): void => {
    renewer.stop();
    watcher?.stop();
  };

  return {
    config,
    registry,
    adminAddress: adminServer.address,
    address(name) {
      const a = addresses.get(name);
      if (!a) throw new Error(`no listener named ${name}`);
      return a;
    },
    readiness,
    reloadPolicy: () => watcher?.check() ?? Promise.resolve(),
    async drain(graceMs = config.limits.drainGraceMs) {
      draining = true;
      for (const l of listeners) l.stopAccepting();
      const open = (): number => listeners.reduce((n, l) => n + l.openConnections, 0);
      log.info({ open: open(), graceMs }, "draining: not ready, no new connections; waiting for open connections to finish");
      const deadline = Date.now() + graceMs;
      while (open() > 0 && Date.now() < deadline) await sleep(Math.min(DRAIN_CHECK_MS, deadline - Date.now()));
      const forced = open();
      if (forced > 0) log.warn({ forced }, "drain grace is over; closing the remaining connections");
      for (const l of listeners) l.destroyAll();
      stopBackground();
      await adminServer.close();
      closed = true;
      log.info({ forced }, "drained");
      return { forced };
    },
    async close() {
      if (closed) return;
      closed = true;
      draining = true;
      stopBackground();
      for (const l of listeners) {
        l.stopAccepting();
        l.destroyAll();
      }
      await adminServer.close();
    },
  };
}

async function readBootstrapBundle(config: SidecarConfig): Promise<TrustBundle> {
  const file = config.ca.bundleFile;
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `cannot read ca.bundleFile ${file}: ${(err as Error).message}`);
  }
  try {
    return TrustBundle.fromPem(config.trustDomain, pem);
  } catch (err) {
    if (err instanceof BundleError) throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `ca.bundleFile ${file}: ${err.message}`);
    throw err;
  }
}

/** Logs how the policy's listeners line up with the config's, and zero-initialises the authz series. */
function describePolicyFit(policy: Policy, config: SidecarConfig, metrics: SidecarMetrics, log: Logger): void {
  const configured = new Set(config.inbound.map((l) => l.name));
  for (const name of policy.listeners) {
    if (!configured.has(name)) log.warn({ listener: name }, "the policy names a listener this sidecar does not have; its entries are ignored");
  }
  for (const name of configured) {
    if (!policy.hasListener(name)) log.warn({ listener: name }, "inbound listener is not in the policy: it accepts no one");
    metrics.initAuthz(name, policy.rulesOf(name));
  }
}

function configuredAddress(config: SidecarConfig, name: string): HostPort {
  return (config.inbound.find((l) => l.name === name) ?? config.outbound.find((l) => l.name === name))?.listen ?? { host: "?", port: 0 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, ms)));
}
