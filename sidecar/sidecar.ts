/**
 * mesh-sidecar assembled: credentials and their renewal, inbound and
 * outbound listeners, the policy and its hot reload, the admin server, and
 * the drain that SIGTERM starts. `startSidecar` is what the CLI runs and what
 * tests start in-process; it reads as the list of its steps, each a small
 * function below.
 */
import { Registry } from "prom-client";
import { startAdminServer, type AdminServer, type Readiness } from "../lib/admin/server.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { ConfigError } from "../lib/config/errors.js";
import { createLogger, type Logger } from "../lib/log.js";
import { formatHostPort, type HostPort } from "../lib/net/address.js";
import type { TrustBundle } from "../lib/spiffe/bundle.js";
import type { SidecarConfig } from "./config.js";
import { readBootstrapBundle } from "./credentials/bootstrap-bundle.js";
import { CaClient } from "./credentials/ca-client.js";
import { CredentialStore } from "./credentials/credential-store.js";
import { Renewer } from "./credentials/renewer.js";
import { WorkloadKey } from "./credentials/workload-key.js";
import { SidecarError, SidecarErrorCode } from "./errors.js";
import { InboundListener } from "./listeners/inbound.js";
import type { ListenerBase } from "./listeners/listener-base.js";
import { OutboundListener } from "./listeners/outbound.js";
import { PeerVerifier } from "./listeners/peer-verifier.js";
import { SidecarMetrics } from "./metrics.js";
import type { Policy } from "./policy/policy.js";
import { describePolicyFit } from "./policy/policy-fit.js";
import { PolicyStore } from "./policy/policy-store.js";
import { PolicyWatcher } from "./policy/policy-watcher.js";
import { ReadinessCheck } from "./readiness.js";
import { sidecarStatus, type SidecarStatus } from "./status.js";

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
  /** What GET /status on the admin port answers, now. */
  status(): SidecarStatus;
  /** Checks the policy file now instead of waiting for the watch or the poll. */
  reloadPolicy(): Promise<void>;
  /** SIGTERM behaviour: not ready at once, stop accepting, wait up to `graceMs` for open connections, close the rest. */
  drain(graceMs?: number): Promise<{ forced: number }>;
  /** Stops everything at once, destroying open connections. */
  close(): Promise<void>;
}

const DRAIN_CHECK_MS = 50;

/** What the steps of the assembly share. */
interface Assembly {
  readonly config: SidecarConfig;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly clock: Clock;
}

/** The policy in force and, with a policyFile, what reloads it. */
interface PolicyInForce {
  readonly policies: PolicyStore;
  readonly watcher: PolicyWatcher | undefined;
}

/** Starts a sidecar from a validated config; resolves once every listener and the admin server listen. */
export async function startSidecar(config: SidecarConfig, options: SidecarOptions = {}): Promise<Sidecar> {
  const startedAt = new Date();
  const log = options.log ?? createLogger({ name: "mesh-sidecar", level: config.log.level });
  const registry = options.registry ?? new Registry();
  const assembly: Assembly = { config, metrics: new SidecarMetrics(registry), log, clock: options.clock ?? systemClock };
  for (const w of config.warnings) log.warn(w);

  const bootstrap = await readBootstrapBundle(config.trustDomain, config.ca.bundleFile);
  const { policies, watcher } = await loadPolicyInForce(assembly, options.policyPollIntervalMs);
  const key = await WorkloadKey.generate();
  const store = openCredentialStore(assembly, bootstrap);
  const inbound = createInboundListeners(assembly, store, policies);
  const outbound = createOutboundListeners(assembly, store);
  policies.subscribe((next) => closeConnectionsNowDenied(inbound, next, log));
  const renewer = createRenewer(assembly, store, key, options.random);
  const readiness = new ReadinessCheck(store, assembly.clock);
  const listeners: ListenerBase[] = [...inbound, ...outbound];
  const status = (): SidecarStatus => sidecarStatus({ config, store, bootstrap, renewer, readiness, watcher, listeners, startedAt });
  const admin = await bindAll(assembly, listeners, registry, readiness, status);

  renewer.start();
  watcher?.start();
  logStarted(assembly, admin, inbound, outbound);
  return new RunningSidecar(config, registry, { listeners, admin, readiness, watcher, renewer, log, status });
}

/** With a policyFile: loads it (a bad file stops the start) and sets up its reload; without, the empty policy. */
async function loadPolicyInForce({ config, metrics, log }: Assembly, pollIntervalMs: number | undefined): Promise<PolicyInForce> {
  const policies = new PolicyStore();
  const file = config.policyFile;
  if (file === undefined) return { policies, watcher: undefined };
  const watcher = new PolicyWatcher({
    file,
    metrics,
    log,
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
    onReload: (next) => policies.publish(next),
  });
  const initial = await watcher.loadInitial().catch((err: unknown) => {
    if (err instanceof ConfigError) throw err;
    throw new SidecarError(SidecarErrorCode.FILE_UNREADABLE, `cannot read policyFile ${file}: ${(err as Error).message}`);
  });
  policies.publish(initial);
  describePolicyFit(initial, config.inbound, metrics, log);
  policies.subscribe((next) => describePolicyFit(next, config.inbound, metrics, log));
  return { policies, watcher };
}

/** The credential store, starting from the bootstrap bundle, with the expiry gauges following it. */
function openCredentialStore({ config, metrics }: Assembly, bootstrap: TrustBundle): CredentialStore {
  const store = new CredentialStore(bootstrap, config.tls, (active, bundle) => {
    if (active) metrics.svidExpiry.set(active.svid.notAfter.getTime() / 1000);
    metrics.bundleExpiry.set(bundle.earliestExpiry().getTime() / 1000);
  });
  metrics.bundleExpiry.set(bootstrap.earliestExpiry().getTime() / 1000);
  metrics.svidExpiry.set(0);
  return store;
}

/** The renewer that keeps an SVID in store, asking mesh-ca over HTTPS checked against the roots in store. */
function createRenewer({ config, metrics, log, clock }: Assembly, store: CredentialStore, key: WorkloadKey, random: (() => number) | undefined): Renewer {
  const client = new CaClient({ url: config.ca.url, trustedRoots: () => store.bundle.pem, groups: config.tls.groups });
  return new Renewer({ config, client, store, key, metrics, log, clock, ...(random ? { random } : {}) });
}

function createInboundListeners({ config, metrics, log, clock }: Assembly, store: CredentialStore, policies: PolicyStore): InboundListener[] {
  const verifier = new PeerVerifier({ trustDomain: config.trustDomain, usage: "client", now: () => clock.now() });
  return config.inbound.map((c) => new InboundListener({ config: c, limits: config.limits, store, verifier, policies, metrics, log }));
}

function createOutboundListeners({ config, metrics, log, clock }: Assembly, store: CredentialStore): OutboundListener[] {
  const now = (): number => clock.now();
  const verifier = new PeerVerifier({ trustDomain: config.trustDomain, usage: "server", now });
  return config.outbound.map(
    (c) => new OutboundListener({ config: c, limits: config.limits, store, verifier, metrics, log, sessionResumption: config.tls.sessionResumption, now }),
  );
}

/** The reload recheck: every inbound listener closes the connections `policy` now denies. */
function closeConnectionsNowDenied(inbound: readonly InboundListener[], policy: Policy, log: Logger): void {
  for (const l of inbound) {
    const closed = l.recheck(policy);
    if (closed > 0) log.info({ listener: l.name, closed }, "closed connections the reloaded policy denies");
  }
}

/** Binds every listener, then the admin server; if one cannot bind, the others stop accepting before the error goes on. */
async function bindAll(
  { config }: Assembly,
  listeners: readonly ListenerBase[],
  registry: Registry,
  readiness: ReadinessCheck,
  status: () => SidecarStatus,
): Promise<AdminServer> {
  try {
    for (const l of listeners) await l.listen();
    return await startAdminServer({ listen: config.admin, registry, readiness: () => readiness.check(), status }).catch((err: Error) => {
      throw new SidecarError(SidecarErrorCode.LISTEN_FAILED, `admin server cannot listen on ${formatHostPort(config.admin)}: ${err.message}`);
    });
  } catch (err) {
    for (const l of listeners) l.stopAccepting();
    throw err;
  }
}

function logStarted({ config, log }: Assembly, admin: AdminServer, inbound: readonly ListenerBase[], outbound: readonly ListenerBase[]): void {
  log.info(
    {
      trustDomain: config.trustDomain.name,
      ca: config.ca.url.origin,
      admin: formatHostPort(admin.address),
      inbound: inbound.map((l) => `${l.name}=${formatHostPort(l.address)}`),
      outbound: outbound.map((l) => `${l.name}=${formatHostPort(l.address)}`),
    },
    "mesh-sidecar started; requesting an SVID",
  );
}

/** The parts a running sidecar stops. */
interface RunningParts {
  readonly listeners: readonly ListenerBase[];
  readonly admin: AdminServer;
  readonly readiness: ReadinessCheck;
  readonly watcher: PolicyWatcher | undefined;
  readonly renewer: Renewer;
  readonly log: Logger;
  readonly status: () => SidecarStatus;
}

/** A started sidecar: its addresses, its readiness, and the two ways it stops. */
class RunningSidecar implements Sidecar {
  readonly adminAddress: HostPort;
  private closed = false;

  constructor(
    readonly config: SidecarConfig,
    readonly registry: Registry,
    private readonly parts: RunningParts,
  ) {
    this.adminAddress = parts.admin.address;
  }

  address(name: string): HostPort {
    const listener = this.parts.listeners.find((l) => l.name === name);
    if (!listener) throw new Error(`no listener named ${name}`);
    return listener.address;
  }

  readiness(): Readiness {
    return this.parts.readiness.check();
  }

  status(): SidecarStatus {
    return this.parts.status();
  }

  reloadPolicy(): Promise<void> {
    return this.parts.watcher?.check() ?? Promise.resolve();
  }

  async drain(graceMs = this.config.limits.drainGraceMs): Promise<{ forced: number }> {
    const { listeners, log } = this.parts;
    this.parts.readiness.draining = true;
    for (const l of listeners) l.stopAccepting();
    const open = (): number => listeners.reduce((n, l) => n + l.openConnections, 0);
    log.info({ open: open(), graceMs }, "draining: not ready, no new connections; waiting for open connections to finish");
    const deadline = Date.now() + graceMs;
    while (open() > 0 && Date.now() < deadline) await sleep(Math.min(DRAIN_CHECK_MS, deadline - Date.now()));
    const forced = open();
    if (forced > 0) log.warn({ forced }, "drain grace is over; closing the remaining connections");
    for (const l of listeners) l.destroyAll();
    this.stopBackground();
    await this.parts.admin.close();
    this.closed = true;
    log.info({ forced }, "drained");
    return { forced };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.parts.readiness.draining = true;
    this.stopBackground();
    for (const l of this.parts.listeners) {
      l.stopAccepting();
      l.destroyAll();
    }
    await this.parts.admin.close();
  }

  private stopBackground(): void {
    this.parts.renewer.stop();
    this.parts.watcher?.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, ms)));
}
